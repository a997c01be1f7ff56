"""Dead letters on demand: read a service's dead-letter topic and replay chosen records.
The dashboard never consumes dead-letter topics through its pipeline (their records are
raw bytes that would be dead-lettered again); it reads them when ops asks."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from kauppa.dashboard import repository
from kauppa.dashboard.erasure import erasures_named
from kauppa.dashboard.repository import Replays
from kauppa.servicekit.auth import Principal, Role
from kauppa.servicekit.deadletters import DeadLetter, read_dead_letters, republish
from kauppa.servicekit.logging import get_logger
from kauppa.servicekit.runtime import ServiceRuntime
from kauppa.servicekit.unit_of_work import UnitOfWork

LIST_TIMEOUT_SECONDS = 3.0

T = TypeVar("T")
Claim = Callable[[UnitOfWork], Awaitable[dict[str, Any]]]
log = get_logger(__name__)


def dead_letter_id(service: str, d: DeadLetter) -> str:
    return f"{service}:{d.record.partition}@{d.record.offset}"


def visible_dead_letter(principal: Principal) -> Callable[[DeadLetter], bool]:
    """Dead letters are per organisation: a tenant-bound token sees its organisation's
    (read from the event body); a letter whose organisation cannot be read is shown to
    platform admins only; a platform token sees the rest too."""

    def visible(d: DeadLetter) -> bool:
        org = d.organisation_id
        if org is None:
            return principal.organisation_id is None and principal.has(Role.ADMIN)
        return principal.may_act_in(org)

    return visible


async def list_dead_letters(
    runtime: ServiceRuntime, service: str, visible: Callable[[DeadLetter], bool]
) -> list[dict[str, Any]]:
    letters = [
        d
        for d in await read_dead_letters(
            runtime.settings.kafka, service, timeout=LIST_TIMEOUT_SECONDS
        )
        if visible(d)
    ]
    ids = [dead_letter_id(service, d) for d in letters]
    replayed = await repository.replays(runtime.db, ids)
    out = []
    for d, did in zip(letters, ids, strict=True):
        r = replayed.get(did)
        out.append(
            {
                **d.summary(),
                "id": did,
                "replayed_at": r["at"].isoformat() if r else None,
                "replayed_by": r["by"] if r else None,
            }
        )
    return out


async def replay_dead_letters(
    runtime: ServiceRuntime,
    service: str,
    ids: list[str] | None,
    by: str,
    commit: Callable[[Claim], Awaitable[T]],
    visible: Callable[[DeadLetter], bool],
) -> T:
    """Replay the chosen dead letters (all not yet replayed when ``ids`` is None), each
    at most once however often and however concurrently this is asked.

    The topic is read first. ``commit`` runs the claim in one transaction (and may run
    it again on a transient error): a replay marker per chosen dead letter not marked
    yet, keyed by the dead letter's id, so two requests cannot both claim one (the later
    transaction conflicts, runs again and finds the marker). Each request's markers carry
    a token of its own; after the commit, only letters whose marker holds this request's
    token are published: what a committed claim took, never what a rolled-back attempt
    took (the run that commits may be a stored answer under the same Idempotency-Key,
    which claims nothing). Letters naming a customer erased since (by customer id,
    business id or email, in the letter's organisation) are refused
    (``refused_erased``). Only letters ``visible`` to the caller are chosen (the ids
    of others are ignored as unknown). ``commit`` returns what the claim answered,
    ``{"service", "replayed": [ids]}``, or that stored answer."""
    letters = await read_dead_letters(runtime.settings.kafka, service)
    wanted = set(ids) if ids is not None else None
    chosen: dict[str, DeadLetter] = {}
    for d in letters:
        did = dead_letter_id(service, d)
        if (wanted is None or did in wanted) and visible(d):
            chosen[did] = d
    # The erasure tombstones: a letter naming a customer erased since (its id, business
    # id or email, anywhere in the body) would bring the person's data back; it is
    # refused, never replayed.
    erasures = await erasures_named(runtime.db, chosen.values())
    refused = sorted(
        did for did, d in chosen.items() if erasures.matches(d.organisation_id, d.identities)
    )
    for did in refused:
        del chosen[did]
    token = uuid.uuid4().hex

    async def claim(uow: UnitOfWork) -> dict[str, Any]:
        replays = uow.repository(Replays)
        marked = await replays.marked(list(chosen))
        fresh = [did for did in chosen if did not in marked]
        if fresh:
            await replays.mark(
                [
                    {
                        "_id": did,
                        "service": service,
                        "by": by,
                        "at": uow.now,
                        "origin": chosen[did].summary()["origin"],
                        "ce_type": chosen[did].ce_type,
                        "claim": token,
                    }
                    for did in fresh
                ]
            )
        return {"service": service, "replayed": fresh, "refused_erased": refused}

    answer = await commit(claim)
    if chosen:
        claimed = await repository.claimed_by(runtime.db, list(chosen), token)
        if claimed:
            await _publish_claimed(runtime, service, [(did, chosen[did]) for did in claimed])
    return answer


async def _publish_claimed(
    runtime: ServiceRuntime, service: str, claimed: list[tuple[str, DeadLetter]]
) -> None:
    """Publish the claimed dead letters (as read before the claim). Should the publish
    fail, their markers go again, so they show as not replayed and can be replayed
    again: a repeat is harmless, since consumers drop an event id they applied already,
    but a letter marked and never sent would be lost."""
    try:
        await republish(runtime.producer, [d for _, d in claimed])
    except BaseException:
        unsent = [did for did, _ in claimed]
        log.warning("dead_letter_replay_unsent", service=service, unsent=unsent)
        await repository.unmark(runtime.db, unsent)
        raise
