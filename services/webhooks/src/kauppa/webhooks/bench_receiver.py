"""The ``make bench`` receiver: answers every webhook 204 and acknowledges it on a Kafka
topic (header ``bench_cause`` = the webhook-id, i.e. the input event's id), which the
bench's output counter reads. Runs in its own process, as a real receiver would:
``python -m kauppa.webhooks.bench_receiver PORT BOOTSTRAP TOPIC``."""

from __future__ import annotations

import asyncio
import sys

import uvicorn
from aiokafka import AIOKafkaProducer
from kauppa.contracts.topics import Topic
from kauppa.servicekit.kafka_admin import create_topics
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

ACK_TYPE = b"fi.kauppa.WebhookDelivered.v1"


async def main(port: int, bootstrap: str, topic: str) -> None:
    await create_topics(bootstrap, [Topic(topic, "webhook-id", partitions=3, meaning="bench")])
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=2, enable_idempotence=False)
    await producer.start()

    async def receive(request: Request) -> Response:
        await request.body()
        webhook_id = request.headers.get("webhook-id", "").encode()
        await producer.send(
            topic,
            value=b"",
            key=webhook_id,
            headers=[("ce_type", ACK_TYPE), ("bench_cause", webhook_id)],
        )
        return Response(status_code=204)

    app = Starlette(routes=[Route("/{path:path}", receive, methods=["POST"])])
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    try:
        await uvicorn.Server(config).serve()
    finally:
        await producer.stop()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), sys.argv[2], sys.argv[3]))
