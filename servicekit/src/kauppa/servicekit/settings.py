"""Settings shared by every service (pydantic-settings).

Infrastructure comes from unprefixed variables that every process shares
(``KAFKA_BOOTSTRAP_SERVERS``, ``MONGODB_URI``, ``KAFKA_*``, ``KAUPPA_PROFILE``); what is a
service's own comes with the service's prefix (``HANDOFF_HTTP_PORT``, ...).

The ``local`` profile carries Tansu's quirks in one place: short consumer-group sessions
(a join waits half the session timeout), a short fetch wait (a waiting fetch is not woken
by new data), and no idempotent producer (Tansu refuses it); and, as everything runs on
one machine over loopback, no compression (it would only cost CPU). ``production`` keeps
Kafka's safe defaults and compresses with zstd.

Compression (``KAFKA_COMPRESSION_TYPE``: none, gzip, snappy, lz4, zstd) applies to what
the kit produces; consuming, every codec is read whatever the setting. zstd by default:
the kit's JSON events shrink about 12 times in a 1,000-event batch for ~5 us of CPU per
event, against ~9 us for lz4 (7 times) and ~15 us for gzip (measured here through
aiokafka's codecs); snappy costs ~2 us for 5 times.
"""

from __future__ import annotations

from typing import Literal, Self

from pydantic import AliasChoices, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

Profile = Literal["local", "production"]

_LOCAL_KAFKA = {
    "session_timeout_ms": 2000,
    "heartbeat_interval_ms": 300,
    "fetch_max_wait_ms": 10,
    "enable_idempotence": False,
    "rebalance_timeout_ms": 4000,
    "compression_type": "none",
}

Compression = Literal["none", "gzip", "snappy", "lz4", "zstd"]


class KafkaSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KAFKA_", extra="ignore", populate_by_name=True)

    bootstrap_servers: str = "127.0.0.1:9092"
    profile: Profile = Field("production", validation_alias="KAUPPA_PROFILE")
    session_timeout_ms: int = 10_000
    heartbeat_interval_ms: int = 3_000
    rebalance_timeout_ms: int = 30_000
    fetch_max_wait_ms: int = 500
    max_batch_records: int = 1_000
    max_partition_fetch_bytes: int = 4 * 1024 * 1024
    enable_idempotence: bool = True
    acks: Literal["all", "1", "0"] = "all"
    linger_ms: int = 5
    compression_type: Compression = "zstd"
    max_message_bytes: int = 1_048_576
    """The broker's largest record (Kafka's ``message.max.bytes``/``max.message.bytes``,
    default 1 MiB). Outgoing events are checked against it before commit; a dead letter
    over it is stored truncated, its full bytes in the service's database."""
    auto_offset_reset: Literal["earliest", "latest"] = "earliest"
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: str | None = None

    @model_validator(mode="after")
    def _apply_profile(self) -> Self:
        if self.profile == "local":
            for name, value in _LOCAL_KAFKA.items():
                if name not in self.model_fields_set:
                    object.__setattr__(self, name, value)
        return self


class MongoSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MONGODB_", extra="ignore")

    uri: str = "mongodb://127.0.0.1:27017/?replicaSet=rs0"
    server_selection_timeout_ms: int = 5_000
    write_concern: str = "majority"


class ClockSettings(BaseSettings):
    """An accelerated clock for demos: virtual time = start + (real - epoch) x speed.
    Every process given the same three values agrees on the time."""

    model_config = SettingsConfigDict(env_prefix="KAUPPA_CLOCK_", extra="ignore")

    speed: float = 1.0
    start: str | None = None  # ISO timestamp the virtual clock showed at ``epoch``
    epoch: float | None = None  # real unix time when virtual time was ``start``


class TracingSettings(BaseSettings):
    """OpenTelemetry traces (``servicekit.tracing``): off unless an OTLP endpoint is set.
    The endpoint is the collector's base URL (``/v1/traces`` is added), e.g.
    ``http://otel-collector:4318``; the exporter comes with ``kauppa-servicekit[otlp]``.
    ``sample_ratio``: the share of traces kept, decided by trace id (the same in every
    service)."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    otlp_endpoint: str | None = Field(
        None, validation_alias=AliasChoices("KAUPPA_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
    )
    otlp_timeout_seconds: float = Field(10.0, validation_alias="KAUPPA_OTLP_TIMEOUT_SECONDS")
    sample_ratio: float = Field(1.0, ge=0.0, le=1.0, validation_alias="KAUPPA_TRACE_SAMPLE_RATIO")


class ServiceSettings(BaseSettings):
    """A service's own settings. Subclass per service and set ``env_prefix``."""

    model_config = SettingsConfigDict(env_prefix="KAUPPA_", extra="ignore")

    service_name: str = "kauppa"
    database: str = ""
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    log_format: Literal["auto", "json", "console"] = "auto"
    log_level: str = "INFO"
    consumer_group: str = ""
    consume_topics: list[str] = Field(default_factory=list)
    outbox_relay_grace_seconds: float = 5.0
    outbox_relay_interval_seconds: float = 1.0
    timer_poll_max_seconds: float = 0.5
    timer_lease_seconds: float = 30.0
    timer_batch: int = 500
    stall_after_seconds: float = 120.0  # lag or a batch in hand, no progress: not ready
    jwt_secret: str = "kauppa-local-development-secret-change-me"
    jwt_algorithm: Literal["HS256", "RS256"] = "HS256"
    jwt_public_key: str | None = None
    jwt_jwks_url: str | None = None
    jwt_audience: str = "kauppa"
    jwt_issuer: str | None = None
    # Limits before work (kauppa.servicekit.limits): 413 over this, 422 deeper than that.
    max_request_body_bytes: int = Field(1024 * 1024, ge=1)
    max_json_depth: int = Field(32, ge=1)

    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    mongo: MongoSettings = Field(default_factory=MongoSettings)
    clock: ClockSettings = Field(default_factory=ClockSettings)
    tracing: TracingSettings = Field(default_factory=TracingSettings)

    @model_validator(mode="after")
    def _defaults_from_name(self) -> Self:
        if not self.database:
            object.__setattr__(self, "database", f"kauppa_{self.service_name}")
        if not self.consumer_group:
            object.__setattr__(self, "consumer_group", f"kauppa-{self.service_name}")
        return self
