"""Test support on real infrastructure: a session-wide broker and mongod, runtimes with
isolated databases, a reader that waits for events on a topic, ``eventually``, and an
in-process HTTP client with bearer tokens."""

from kauppa.devkit.testing.http import asgi_client, bearer
from kauppa.devkit.testing.kafka import TopicReader, publish_envelopes, publish_raw
from kauppa.devkit.testing.waiting import eventually

__all__ = [
    "TopicReader",
    "asgi_client",
    "bearer",
    "eventually",
    "publish_envelopes",
    "publish_raw",
]
