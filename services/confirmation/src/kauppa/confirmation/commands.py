"""What the service does on request, for HTTP and events alike: the seller's review of
a draft (D12.1: approve, hold, add a note) and an organisation's send policy (ops).

Each runs in the caller's unit of work and raises refusals (``NotFound``: no such
confirmation in the caller's sight; ``Conflict``: sending has started), never HTTP
statuses. Each returns the confirmation's (or policy's) stored fields after the change.
"""

from __future__ import annotations

from collections.abc import Callable

from kauppa.confirmation.domain.confirmation import Confirmation
from kauppa.confirmation.domain.confirmation_content import confirmation_key
from kauppa.confirmation.domain.send_policy import OrganisationPolicy
from kauppa.confirmation.repository import Confirmations, Document, carry_out
from kauppa.servicekit.auth import Principal
from kauppa.servicekit.refusals import NotFound
from kauppa.servicekit.unit_of_work import Effects, UnitOfWork


def may_see(principal: Principal, organisation_id: str, seller_id: str) -> None:
    """The deal's seller, or ops and admin of its organisation; to anyone else the
    confirmation does not exist (the same answer as an unknown one)."""
    if not principal.may_see(organisation_id, seller_id):
        raise NotFound("no such confirmation")


async def _review(
    uow: UnitOfWork,
    principal: Principal,
    deal_id: str,
    version: int,
    verb: Callable[[Confirmation], Effects],
) -> Document:
    repo = uow.repository(Confirmations)
    confirmation = await repo.get(confirmation_key(deal_id, version))
    if confirmation is None:
        raise NotFound("no such confirmation")
    may_see(principal, confirmation.organisation_id, confirmation.seller_id)
    carry_out(uow, verb(confirmation))
    await repo.save([confirmation])
    return confirmation.document()


async def approve(uow: UnitOfWork, principal: Principal, deal_id: str, version: int) -> Document:
    """The seller checked the draft: it goes out now."""
    return await _review(
        uow, principal, deal_id, version, lambda c: c.approve(principal.subject, uow.now)
    )


async def hold(uow: UnitOfWork, principal: Principal, deal_id: str, version: int) -> Document:
    """Kept from going out until the seller approves it."""
    return await _review(uow, principal, deal_id, version, lambda c: c.hold(principal.subject))


async def add_note(
    uow: UnitOfWork, principal: Principal, deal_id: str, version: int, note: str
) -> Document:
    """A personal note from the seller, printed in the email."""
    return await _review(uow, principal, deal_id, version, lambda c: c.add_note(note))


async def set_policy(
    uow: UnitOfWork, principal: Principal, organisation_id: str, policy: OrganisationPolicy
) -> Document:
    """Ops: when an organisation's confirmations go out (applies to new drafts)."""
    stored = {**policy.as_mapping(), "updated_by": principal.subject, "updated_at": uow.now}
    await uow.repository(Confirmations).set_policy(organisation_id, stored)
    return {"organisation_id": organisation_id, **policy.as_mapping()}
