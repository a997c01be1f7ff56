"""Run the webhooks service: ``python -m kauppa.webhooks``."""

from __future__ import annotations

from kauppa.servicekit.serve import serve
from kauppa.webhooks.bootstrap import build_app
from kauppa.webhooks.settings import WebhooksSettings


def main() -> None:
    serve(build_app, WebhooksSettings())  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
