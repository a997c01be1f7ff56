"""Create Kauppa's topics from the contracts, with partitions and retention; delete
topics; assign every partition of some topics to a group-less consumer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from kauppa.contracts.topics import Topic, all_topics


@asynccontextmanager
async def _admin(bootstrap: str, **security: object) -> AsyncIterator[AIOKafkaAdminClient]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000, **security)
    await admin.start()
    try:
        yield admin
    finally:
        await admin.close()


async def _until_listed(
    admin: AIOKafkaAdminClient, done: Callable[[set[str]], bool], tries: int = 100
) -> None:
    """Topic metadata changes propagate asynchronously: poll the listing (up to ~5 s)."""
    for _ in range(tries):
        if done(set(await admin.list_topics())):
            return
        await asyncio.sleep(0.05)


async def create_topics(
    bootstrap: str, topics: Iterable[Topic] | None = None, **security: object
) -> list[str]:
    """Create missing topics; existing ones are left as they are. Returns names created."""
    wanted = list(topics if topics is not None else all_topics())
    async with _admin(bootstrap, **security) as admin:
        existing = set(await admin.list_topics())
        created: list[str] = []
        for topic in (t for t in wanted if t.name not in existing):
            new = NewTopic(
                name=topic.name,
                num_partitions=topic.partitions,
                replication_factor=1,
                topic_configs={"retention.ms": str(topic.retention_ms)},
            )
            try:
                await admin.create_topics([new])
                created.append(topic.name)
            except TopicAlreadyExistsError:
                pass
        names = {t.name for t in wanted}
        await _until_listed(admin, lambda listed: names <= listed)
        return created


async def delete_topics(bootstrap: str, names: Iterable[str], **security: object) -> list[str]:
    """Delete those of the named topics that exist and wait until they are gone. Returns
    the names deleted."""
    async with _admin(bootstrap, **security) as admin:
        doomed = sorted(set(names) & set(await admin.list_topics()))
        if doomed:
            await admin.delete_topics(doomed)
            await _until_listed(admin, lambda listed: not set(doomed) & listed)
        return doomed


async def assign_all_partitions(
    consumer: AIOKafkaConsumer, topics: Iterable[str], *, from_end: bool, wait: float = 5.0
) -> list[TopicPartition]:
    """Assign every partition of ``topics`` to a group-less consumer and position it at the
    end (only what arrives from now on) or at the beginning. Refreshes the metadata once
    and waits up to ``wait`` seconds for a topic created a moment ago; a topic still
    unknown then raises ``LookupError`` naming it."""
    tps: list[TopicPartition] = []
    loop = asyncio.get_running_loop()
    for topic in topics:
        deadline = loop.time() + wait
        parts = consumer.partitions_for_topic(topic)
        while not parts:
            await consumer.topics()  # refreshes metadata (at least once)
            parts = consumer.partitions_for_topic(topic)
            if parts or loop.time() >= deadline:
                break
            await asyncio.sleep(0.1)
        if not parts:
            raise LookupError(f"topic {topic} does not exist")
        tps += [TopicPartition(topic, p) for p in sorted(parts)]
    consumer.assign(tps)
    if from_end:
        await consumer.seek_to_end(*tps)
    else:
        await consumer.seek_to_beginning(*tps)
    for tp in tps:
        await consumer.position(tp)  # resolve now, before anything new arrives
    return tps
