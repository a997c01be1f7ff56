"""Run the followup service: ``python -m kauppa.followup``."""

from __future__ import annotations

from kauppa.followup.bootstrap import build_app
from kauppa.followup.settings import FollowupSettings
from kauppa.servicekit.serve import serve


def main() -> None:
    serve(build_app, FollowupSettings())  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
