"""Kauppa's development kit: the embedded Kafka-protocol broker and mongod that `make run`
and the tests start (``embedded``), and the test fixtures and doubles (``testing``).
Never installed in a service image: services depend on ``kauppa-servicekit`` only."""
