"""Run a service process: logging, uvicorn with graceful shutdown, clear start-up errors."""

from __future__ import annotations

import sys
from collections.abc import Callable

import uvicorn
from fastapi import FastAPI
from kauppa.servicekit import tracing
from kauppa.servicekit.logging import configure_logging, get_logger
from kauppa.servicekit.settings import ServiceSettings


def serve(build_app: Callable[[ServiceSettings], FastAPI], settings: ServiceSettings) -> None:
    """Serve until SIGINT/SIGTERM; uvicorn then runs the app's lifespan shutdown, which
    finishes the batch in hand, commits, and closes connections."""
    configure_logging(settings.service_name, fmt=settings.log_format, level=settings.log_level)
    log = get_logger("kauppa.serve")
    try:
        if tracing.configure(settings.service_name, settings.tracing):
            log.info("tracing_to_otlp", endpoint=settings.tracing.otlp_endpoint)
    except RuntimeError as exc:  # traces are worth a loud line, not a service that is down
        log.error("tracing_not_started", error=str(exc))
    try:
        app = build_app(settings)
    except Exception as exc:
        log.error("service_failed_to_build", error=str(exc))
        sys.exit(2)
    log.info(
        "service_listening",
        url=f"http://{settings.http_host}:{settings.http_port}",
        kafka=settings.kafka.bootstrap_servers,
        database=settings.database,
    )
    config = uvicorn.Config(
        app,
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=20,
        lifespan="on",
    )
    server = uvicorn.Server(config)
    server.run()
    if not server.started:
        log.error("service_failed_to_start", port=settings.http_port)
        sys.exit(1)
