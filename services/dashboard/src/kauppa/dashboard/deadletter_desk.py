"""Dead letters on demand: read a service's dead-letter topic and replay chosen records.
The dashboard never consumes dead-letter topics through its pipeline (their records are
raw bytes that would be dead-lettered again); it reads them when ops asks."""

from __future__ import annotations

from typing import Any

from kauppa.servicekit.deadletters import DeadLetter, read_dead_letters, replay
from kauppa.servicekit.runtime import ServiceRuntime
from kauppa.servicekit.unit_of_work import UnitOfWork

REPLAYS = "dlq_replays"


def dead_letter_id(service: str, d: DeadLetter) -> str:
    return f"{service}:{d.record.partition}@{d.record.offset}"


async def list_dead_letters(runtime: ServiceRuntime, service: str) -> list[dict[str, Any]]:
    letters = await read_dead_letters(runtime.settings.kafka, service, timeout=3.0)
    ids = [dead_letter_id(service, d) for d in letters]
    replayed = {doc["_id"]: doc async for doc in runtime.db[REPLAYS].find({"_id": {"$in": ids}})}
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
    runtime: ServiceRuntime, service: str, ids: list[str] | None, by: str, uow: UnitOfWork
) -> dict[str, Any]:
    """Replay the chosen dead letters (all not yet replayed when ``ids`` is None) and
    record who replayed what, so a second click does not send them again."""
    done = {
        doc["_id"]
        async for doc in uow.db[REPLAYS].find(
            {"_id": {"$regex": f"^{service}:"}}, {"_id": 1}, session=uow.session
        )
    }
    wanted = set(ids) if ids is not None else None

    def chosen(d: DeadLetter) -> bool:
        did = dead_letter_id(service, d)
        return did not in done and (wanted is None or did in wanted)

    replayed = await replay(runtime.settings.kafka, service, chosen, producer=runtime.producer)
    if replayed:
        await uow.db[REPLAYS].insert_many(
            [
                {
                    "_id": dead_letter_id(service, d),
                    "service": service,
                    "by": by,
                    "at": uow.now,
                    "origin": d.summary()["origin"],
                    "ce_type": d.ce_type,
                }
                for d in replayed
            ],
            session=uow.session,
        )
    return {"service": service, "replayed": [dead_letter_id(service, d) for d in replayed]}
