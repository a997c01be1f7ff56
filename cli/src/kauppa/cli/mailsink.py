"""A local SMTP sink with a browser view, so `make run` shows the order confirmations.

SMTP on 127.0.0.1:1025 (aiosmtpd) and the mails at http://127.0.0.1:8025 (newest
first, HTML bodies rendered in a sandboxed frame). Mails live in memory.
"""

from __future__ import annotations

import argparse
import email
import email.policy
import html
import threading
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any

import uvicorn
from aiosmtpd.controller import Controller
from fastapi import FastAPI, HTTPException
from fastapi.responses import HTMLResponse, JSONResponse

MAILS: list[dict[str, Any]] = []
_LOCK = threading.Lock()


class SinkHandler:
    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        html_part = msg.get_body(preferencelist=("html",))
        text_part = msg.get_body(preferencelist=("plain",))
        with _LOCK:
            MAILS.append(
                {
                    "id": len(MAILS) + 1,
                    "received_at": datetime.now(UTC).isoformat(timespec="seconds"),
                    "from": str(msg.get("From", "")),
                    "to": ", ".join(envelope.rcpt_tos),
                    "subject": str(msg.get("Subject", "")),
                    "message_id": str(msg.get("Message-ID", "")),
                    "html": html_part.get_content() if html_part else None,
                    "text": text_part.get_content() if text_part else "",
                    "attachments": [a.get_filename() for a in msg.iter_attachments()],
                }
            )
        return "250 OK"


app = FastAPI(title="Kauppa mail sink")


@app.get("/api/mails")
def list_mails() -> JSONResponse:
    with _LOCK:
        return JSONResponse([{k: v for k, v in m.items() if k != "html"} for m in MAILS])


@app.get("/mails/{mail_id}", response_class=HTMLResponse)
def show_mail(mail_id: int) -> str:
    with _LOCK:
        mail = next((m for m in MAILS if m["id"] == mail_id), None)
    if mail is None:
        raise HTTPException(404, "no such mail")
    body = mail["html"] or f"<pre>{html.escape(mail['text'])}</pre>"
    return (
        f"<!doctype html><meta charset=utf-8><title>{html.escape(mail['subject'])}</title>"
        f"<p><a href='/'>&larr; all mail</a></p><h2>{html.escape(mail['subject'])}</h2>"
        f"<p>From {html.escape(mail['from'])} to {html.escape(mail['to'])}<br>"
        f"Message-ID {html.escape(mail['message_id'])}</p>"
        f"<iframe sandbox style='width:100%;height:80vh;border:1px solid #ccc' "
        f'srcdoc="{html.escape(body, quote=True)}"></iframe>'
    )


@app.get("/", response_class=HTMLResponse)
def index() -> str:
    with _LOCK:
        rows = "".join(
            f"<tr><td>{m['received_at']}</td><td>{html.escape(m['to'])}</td>"
            f"<td><a href='/mails/{m['id']}'>{html.escape(m['subject'])}</a></td></tr>"
            for m in reversed(MAILS)
        )
    return (
        "<!doctype html><meta charset=utf-8><meta http-equiv=refresh content=5>"
        "<title>Kauppa mail sink</title><style>body{font-family:sans-serif;margin:2em}"
        "td{padding:4px 12px;border-bottom:1px solid #eee}</style>"
        f"<h1>Mail sink</h1><p>{len(MAILS)} mail(s) received on SMTP port.</p>"
        f"<table><tr><th>received</th><th>to</th><th>subject</th></tr>{rows}</table>"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--smtp-port", type=int, default=1025)
    parser.add_argument("--http-port", type=int, default=8025)
    args = parser.parse_args()
    controller = Controller(SinkHandler(), hostname="127.0.0.1", port=args.smtp_port)
    controller.start()
    try:
        uvicorn.run(app, host="127.0.0.1", port=args.http_port, log_level="warning")
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
