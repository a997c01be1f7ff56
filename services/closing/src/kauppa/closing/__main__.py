"""Run the closing service alone: ``python -m kauppa.closing``."""

from __future__ import annotations

from kauppa.closing.bootstrap import build_app
from kauppa.closing.settings import ClosingSettings
from kauppa.servicekit.serve import serve


def main() -> None:
    serve(build_app, ClosingSettings())


if __name__ == "__main__":
    main()
