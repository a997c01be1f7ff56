"""Create Kauppa's topics from the contracts, with partitions and retention."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from kauppa.contracts.topics import Topic, all_topics


async def create_topics(
    bootstrap: str, topics: Iterable[Topic] | None = None, **security: object
) -> list[str]:
    """Create missing topics; existing ones are left as they are. Returns names created."""
    wanted = list(topics if topics is not None else all_topics())
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap,
        request_timeout_ms=10_000,
        **security,
    )
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in wanted if t.name not in existing]
        created: list[str] = []
        for topic in missing:
            new = NewTopic(
                name=topic.name,
                num_partitions=topic.partitions,
                replication_factor=1,
                topic_configs={"retention.ms": str(topic.retention_days * 86_400_000)},
            )
            try:
                await admin.create_topics([new])
                created.append(topic.name)
            except TopicAlreadyExistsError:
                pass
        # Metadata of fresh topics propagates asynchronously; wait until all are listed.
        for _ in range(100):
            if {t.name for t in wanted} <= set(await admin.list_topics()):
                break
            await asyncio.sleep(0.05)
        return created
    finally:
        await admin.close()
