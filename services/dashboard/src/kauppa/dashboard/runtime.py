"""The dashboard's runtime: the kit's, plus the board that scrapes the other services'
health; its HTTP client lives as long as the runtime."""

from __future__ import annotations

from typing import Any

from kauppa.dashboard.handlers import build_handlers
from kauppa.dashboard.health import HealthBoard
from kauppa.dashboard.queries import INDEXES
from kauppa.dashboard.settings import DashboardSettings
from kauppa.servicekit.runtime import ServiceRuntime


class DashboardRuntime(ServiceRuntime):
    """Consumes every topic, emits nothing, runs no timers."""

    settings: DashboardSettings

    def __init__(self, settings: DashboardSettings, **kwargs: Any) -> None:
        super().__init__(settings, build_handlers(), indexes=INDEXES, **kwargs)
        self.health_board = HealthBoard(
            settings.service_urls, settings.scrape_timeout_seconds, settings.scrape_cache_seconds
        )

    async def stop(self) -> None:
        try:
            await super().stop()
        finally:
            await self.health_board.aclose()
