"""Run the handoff service: ``python -m kauppa.handoff``."""

from __future__ import annotations

from kauppa.handoff.bootstrap import build_app
from kauppa.handoff.settings import HandoffSettings
from kauppa.servicekit.serve import serve


def main() -> None:
    serve(build_app, HandoffSettings())


if __name__ == "__main__":
    main()
