"""Prometheus metrics every service exports, defined once."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class ServiceMetrics:
    """One set per process. Label ``service`` lets one Prometheus tell services apart."""

    def __init__(self, service: str, registry: CollectorRegistry | None = None) -> None:
        self.service = service
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.events_in = Counter(
            "kauppa_events_in_total", "Events consumed, by type", ["service", "type"], registry=r
        )
        self.events_duplicate = Counter(
            "kauppa_events_duplicate_total",
            "Redelivered events dropped by the inbox",
            ["service", "type"],
            registry=r,
        )
        self.events_ignored = Counter(
            "kauppa_events_ignored_total",
            "Known events this service does not handle",
            ["service", "type"],
            registry=r,
        )
        self.events_out = Counter(
            "kauppa_events_out_total", "Events published, by type", ["service", "type"], registry=r
        )
        self.dead_letters = Counter(
            "kauppa_dead_letters_total",
            "Records dead-lettered, by reason",
            ["service", "reason"],
            registry=r,
        )
        self.batch_failures = Counter(
            "kauppa_batch_failures_total",
            "Consumed batches (or parts of one, while isolating a poison record) that failed "
            "outside the handlers, by exception type",
            ["service", "error"],
            registry=r,
        )
        self.handler_seconds = Histogram(
            "kauppa_handler_seconds",
            "Time to decode, prepare and apply one batch (transaction included; decoding "
            "overlaps the batch before's transaction)",
            ["service"],
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=r,
        )
        self.batch_size = Histogram(
            "kauppa_batch_size",
            "Records per consumed batch",
            ["service"],
            buckets=(1, 5, 10, 50, 100, 250, 500, 1000, 2500),
            registry=r,
        )
        self.transient_retries = Counter(
            "kauppa_transient_retries_total",
            "Retries after database or broker trouble",
            ["service"],
            registry=r,
        )
        self.transaction_reruns = Counter(
            "kauppa_transaction_reruns_total",
            "Transactions run again after a write conflict or another transient "
            "transaction error (contention between replicas or with HTTP commands)",
            ["service"],
            registry=r,
        )
        self.outbox_backlog = Gauge(
            "kauppa_outbox_backlog",
            "Events committed but not yet published",
            ["service"],
            registry=r,
        )
        self.outbox_relayed = Counter(
            "kauppa_outbox_relayed_total",
            "Events published by the relay (left behind by a crash or slow publish)",
            ["service"],
            registry=r,
        )
        self.timers_due = Gauge(
            "kauppa_timers_due", "Timers due now and not yet fired", ["service"], registry=r
        )
        self.timers_fired = Counter(
            "kauppa_timers_fired_total", "Timers fired, by kind", ["service", "kind"], registry=r
        )
        self.timers_failed = Counter(
            "kauppa_timers_failed_total",
            "Timers parked as failed: their handler raised on them alone (state 'failed' in "
            "_timers, with the error), by kind",
            ["service", "kind"],
            registry=r,
        )
        self.timer_lateness = Histogram(
            "kauppa_timer_lateness_seconds",
            "How late timers fired",
            ["service"],
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 30, 60, 300, 3600, 86400),
            registry=r,
        )
        self.consumer_lag = Gauge(
            "kauppa_consumer_lag",
            "Records behind the end of each partition",
            ["service", "topic", "partition"],
            registry=r,
        )
        self.consumer_last_progress = Gauge(
            "kauppa_consumer_last_progress_timestamp_seconds",
            "Unix time the consumer last made progress (a batch applied, or caught up)",
            ["service"],
            registry=r,
        )
        self.consumer_stalled = Gauge(
            "kauppa_consumer_stalled",
            "1 while the consumer has lag or a batch in hand and has made no progress for "
            "stall_after_seconds",
            ["service"],
            registry=r,
        )
        self.ready = Gauge(
            "kauppa_ready", "1 when broker and database answer", ["service"], registry=r
        )
        self.http_idempotent_replays = Counter(
            "kauppa_http_idempotent_replays_total",
            "Mutating HTTP calls answered from the Idempotency-Key store",
            ["service"],
            registry=r,
        )
