"""Test support on real infrastructure: a session-wide broker and mongod, runtimes with
isolated databases, and a reader that waits for events on a topic."""

from kauppa.servicekit.testing.kafka import TopicReader, publish_envelopes, publish_raw

__all__ = ["TopicReader", "publish_envelopes", "publish_raw"]
