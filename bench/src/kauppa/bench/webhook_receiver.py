"""The ``make bench`` receiver: answers every webhook 204 and acknowledges it on a Kafka
topic (header ``bench_cause`` = the webhook-id, i.e. the input event's id), which the
bench's output counter reads. Runs in its own process, as a real receiver would:
``python -m kauppa.bench.webhook_receiver PORT BOOTSTRAP TOPIC``.

A plain asyncio HTTP/1.1 server (keep-alive, ``content-length`` bodies: what the sender
sends), not a framework: on the shared 2-core bench host a starlette/uvicorn (h11)
receiver cost more CPU per request than the service under test, and capped the figure.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys

from aiokafka import AIOKafkaProducer
from kauppa.contracts.topics import Topic
from kauppa.servicekit.kafka_admin import create_topics

ACK_TYPE = b"fi.kauppa.WebhookDelivered.v1"
NO_CONTENT = b"HTTP/1.1 204 No Content\r\n\r\n"


async def main(port: int, bootstrap: str, topic: str) -> None:
    await create_topics(bootstrap, [Topic(topic, "webhook-id", partitions=3, meaning="bench")])
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=2, enable_idempotence=False)
    await producer.start()

    async def connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                headers = {}
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    headers[name.strip().lower()] = value.strip()
                await reader.readexactly(int(headers.get(b"content-length", b"0")))
                webhook_id = headers.get(b"webhook-id", b"")
                await producer.send(
                    topic,
                    value=b"",
                    key=webhook_id,
                    headers=[("ce_type", ACK_TYPE), ("bench_cause", webhook_id)],
                )
                writer.write(NO_CONTENT)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    server = await asyncio.start_server(connection, "127.0.0.1", port)
    try:
        async with server:
            await server.serve_forever()
    finally:
        await producer.stop()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), sys.argv[2], sys.argv[3]))
