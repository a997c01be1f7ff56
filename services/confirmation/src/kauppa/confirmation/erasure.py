"""The confirmation service's part of GDPR erasure (``CustomerErased``), in one place.

Every confirmation of the customer (matched by ``customer_id``, and by the recipient
address within the organisation) is anonymised by ``Confirmation.erase`` (what goes and
what stays: ``domain/erasure.py``); versions not yet sent become ``erased`` and are never
sent. The ``erasures`` record stops deal events that arrive later (``handlers.py``
drafts them already erased), and the kit's Idempotency-Key cache loses the review
answers' personal fields. Idempotent: erased versions are not touched again."""

from __future__ import annotations

from kauppa.confirmation.deps import Deps
from kauppa.confirmation.repository import Confirmations, carry_out
from kauppa.contracts import Envelope
from kauppa.contracts.events.privacy import CustomerErased
from kauppa.servicekit.unit_of_work import UnitOfWork


async def erase_customer(env: Envelope, uow: UnitOfWork, deps: Deps) -> None:
    event = env.event
    assert isinstance(event, CustomerErased)
    repo = uow.repository(Confirmations)
    await repo.record_erasure(event.customer_id, event.organisation_id, event.erased_at)
    confirmations = await repo.of_customer(event.customer_id, event.organisation_id, event.email)
    for confirmation in confirmations:
        carry_out(uow, confirmation.erase(uow.now))
    await repo.save(confirmations)
    await repo.scrub_cached_replies(confirmations)
