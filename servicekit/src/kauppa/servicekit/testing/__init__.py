"""Test support on real infrastructure: a session-wide broker and mongod, runtimes with
isolated databases, a reader that waits for events on a topic, and ``eventually``."""

from kauppa.servicekit.testing.kafka import TopicReader, publish_envelopes, publish_raw
from kauppa.servicekit.testing.waiting import eventually

__all__ = ["TopicReader", "eventually", "publish_envelopes", "publish_raw"]
