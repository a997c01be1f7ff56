"""The demo receiver's own Standard Webhooks check (used when the reference library is
not installed) agrees with the reference library."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from kauppa.cli.demo.webhook_receiver import verify_signature
from kauppa.webhooks.domain.signing import new_secret
from standardwebhooks.webhooks import Webhook


def signed(secret: str, body: bytes, stamp: int | None = None) -> dict[str, str]:
    at = stamp if stamp is not None else int(time.time())
    sig = Webhook(secret).sign("msg-1", datetime.fromtimestamp(at, UTC), body.decode())
    return {"webhook-id": "msg-1", "webhook-timestamp": str(at), "webhook-signature": sig}


def test_what_the_reference_library_signs_verifies() -> None:
    secret, body = new_secret(), b'{"id":"msg-1"}'
    assert verify_signature(secret, signed(secret, body), body)
    # One of several signatures (a rotation's overlap) is enough.
    headers = signed(secret, body)
    headers["webhook-signature"] = "v1,bm90LWl0 " + headers["webhook-signature"]
    assert verify_signature(secret, headers, body)


def test_a_tampered_body_another_secret_or_an_old_timestamp_fails() -> None:
    secret, body = new_secret(), b'{"id":"msg-1"}'
    assert not verify_signature(secret, signed(secret, body), b'{"id":"msg-2"}')
    assert not verify_signature(new_secret(), signed(secret, body), body)
    assert not verify_signature(secret, signed(secret, body, int(time.time()) - 3600), body)
    assert not verify_signature(secret, {}, body)
