"""Run the ops dashboard: ``python -m kauppa.dashboard``."""

from __future__ import annotations

from kauppa.dashboard.bootstrap import build_app
from kauppa.dashboard.settings import DashboardSettings
from kauppa.servicekit.serve import serve


def main() -> None:
    serve(build_app, DashboardSettings())


if __name__ == "__main__":
    main()
