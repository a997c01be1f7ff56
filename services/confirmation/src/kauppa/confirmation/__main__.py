"""Run the confirmation service alone: ``python -m kauppa.confirmation``."""

from __future__ import annotations

from typing import Any, cast

from kauppa.confirmation.bootstrap import build_app
from kauppa.confirmation.settings import ConfirmationSettings
from kauppa.servicekit.serve import serve


def main() -> None:
    serve(cast(Any, build_app), ConfirmationSettings())


if __name__ == "__main__":
    main()
