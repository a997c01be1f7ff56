"""GDPR erasure (``CustomerErased``) in the webhooks service, in one place.

A delivery keeps the event's body (CloudEvents JSON) until it is delivered and then for
``WEBHOOKS_RETENTION_DAYS``. An erasure finds the deliveries of its organisation whose
body names the erased person (customer id, business id or email, anywhere in the body:
the kit's ``erasures`` rules, as the dead-letter checks use them) and drops their body.
One not yet delivered is never sent: it is closed as ``erased`` and its key's later
deliveries go on. Ids, types, states and attempts stay, so counts stay true. What a
receiver already got is the receiver's to erase.

Not covered: an event about the person that arrives after the erasure is delivered (no
tombstone here; the services that emit such events keep theirs)."""

from __future__ import annotations

from typing import Any

from kauppa.contracts import CustomerErased, Envelope
from kauppa.servicekit.erasures import erased_identities
from kauppa.servicekit.logging import get_logger
from kauppa.servicekit.unit_of_work import UnitOfWork
from kauppa.webhooks.repository import Webhooks

log = get_logger(__name__)


async def erase_customers(batch: list[Envelope], uow: UnitOfWork, _deps: Any) -> None:
    repo = uow.repository(Webhooks)
    for env in batch:
        ev = env.event
        assert isinstance(ev, CustomerErased)
        names = erased_identities(
            customer_id=ev.customer_id, business_id=ev.business_id, email=ev.email
        )
        erased = await repo.erase_deliveries(ev.organisation_id, set(names))
        log.info(
            "customer_erased",
            customer_id=ev.customer_id,
            organisation_id=ev.organisation_id,
            deliveries=erased,
        )
