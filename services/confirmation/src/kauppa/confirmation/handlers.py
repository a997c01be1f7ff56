"""Event and timer handlers and the service's one table of them (``EVENTS``, ``TIMERS``):
draft a confirmation per (deal, version) and schedule it, make it due when its time
comes, and erase a customer's (``erasure.py``). Sending is the sender's job
(``sender.py``)."""

from __future__ import annotations

from kauppa.confirmation.deps import Deps
from kauppa.confirmation.domain.confirmation import SEND_TIMER, Confirmation
from kauppa.confirmation.erasure import erase_customer
from kauppa.confirmation.repository import Confirmations, carry_out
from kauppa.contracts import Envelope, Event
from kauppa.contracts.events.confirmations import ConfirmationFailed, ConfirmationScheduled
from kauppa.contracts.events.deals import DealAmended, DealClosed
from kauppa.contracts.events.privacy import CustomerErased
from kauppa.servicekit.routes import Every, On
from kauppa.servicekit.timers import DueTimer
from kauppa.servicekit.unit_of_work import UnitOfWork


async def draft_confirmations(batch: list[Envelope], uow: UnitOfWork, deps: Deps) -> None:
    """D11: one confirmation per (deal, version), whatever the redeliveries; a newer
    version supersedes the older ones not yet handed to the mail server."""
    repo = uow.repository(Confirmations)
    deals: list[DealClosed | DealAmended] = []
    for env in batch:
        assert isinstance(env.event, DealClosed | DealAmended)
        deals.append(env.event)
    # A deal event that arrives after its customer's erasure (another topic, a replay)
    # is drafted already erased: counted, never sent, nothing personal kept.
    erased = await repo.erased_customers(d.customer_id for d in deals)
    orgs = {d.organisation_id for d in deals}
    policies = deps.policies.resolve(await repo.stored_policies(orgs), orgs)
    rules = deps.drafting
    drafts = []
    for env, deal in zip(batch, deals, strict=True):
        confirmation, effects = Confirmation.draft_from_deal(
            deal,
            policies[deal.organisation_id],
            rules,
            now=uow.now,
            erased=deal.customer_id in erased,
        )
        confirmation.caused_by(env.id, env.correlation_id, env.traceparent)
        drafts.append((env, confirmation, effects))
    for index in await repo.add_new([c for _, c, _ in drafts]):
        env, confirmation, effects = drafts[index]
        if confirmation.erased:
            continue  # nothing to announce or schedule for an erased customer
        if confirmation.content.replaces_version:
            older = await repo.unsent_older(confirmation.deal_id, confirmation.version)
            for old in older:
                carry_out(uow, old.supersede(confirmation.version))
            await repo.save(older)
        carry_out(uow, effects, cause=env)


async def make_due(timers: list[DueTimer], uow: UnitOfWork, deps: Deps) -> None:
    """The send time has come: scheduled versions become due for the sender."""
    repo = uow.repository(Confirmations)
    due = await repo.scheduled([t.payload["key"] for t in timers])
    for confirmation in due:
        carry_out(uow, confirmation.make_due(uow.now))
    await repo.save(due)


DRAFTS_EMIT: list[type[Event]] = [ConfirmationScheduled, ConfirmationFailed]

EVENTS = [
    On(DealClosed, draft_confirmations, emits=DRAFTS_EMIT),
    On(DealAmended, draft_confirmations, emits=DRAFTS_EMIT),
    On(CustomerErased, erase_customer, one=True),
]
TIMERS = [Every(SEND_TIMER, make_due)]
