"""Alert webhooks carry a Standard Webhooks signature the receiver can verify, and are
delivered by a thread that retries a receiver that fails."""

from __future__ import annotations

import base64
import json
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from waits import wait_for

from streams.adapters.alert_webhook import AlertWebhook, signed_request
from streams.domain.alerts import AlertChanged

SECRET = "whsec_" + base64.b64encode(b"a shared secret of 24 bytes!").decode()
ALERT = AlertChanged(
    alert_id="on-hold-4h:ORD-1",
    rule="on-hold-4h",
    kind="on_hold_longer_than",
    state="Active",
    severity="warning",
    subject="ORD-1",
    message="ORD-1 is on hold for more than 4 h",
    changed_at=datetime(2026, 12, 1, 12, 0, tzinfo=UTC),
    order_id="ORD-1",
)


def test_the_receiver_verifies_the_signature_and_a_tampered_body_fails() -> None:
    request = signed_request("http://127.0.0.1:1/hook", SECRET, ALERT, datetime.now(UTC))
    headers = {k.lower(): v for k, v in request.header_items()}
    body = request.data
    assert isinstance(body, bytes)

    payload = Webhook(SECRET).verify(body, headers)

    assert payload["type"] == "alert.changed" and payload["data"]["alert_id"] == ALERT.alert_id
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(body.replace(b"ORD-1", b"ORD-2"), headers)


def test_a_failing_receiver_gets_the_alert_again_until_it_takes_it() -> None:
    received: list[dict[str, object]] = []
    calls = {"n": 0}

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            calls["n"] += 1
            body = self.rfile.read(int(self.headers["content-length"]))
            if calls["n"] == 1:
                self.send_response(503)
            else:
                received.append(json.loads(Webhook(SECRET).verify(body, dict(self.headers.items())) and body))
                self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            return None

    server = HTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    hook = AlertWebhook(f"http://127.0.0.1:{server.server_port}/alerts", SECRET, backoff=0.05)
    try:
        hook(ALERT)
        wait_for("the delivery", lambda: received, 10, every=0.05)
    finally:
        hook.close()
        server.shutdown()

    assert [r["data"]["alert_id"] for r in received] == [ALERT.alert_id]  # type: ignore[index]
    assert calls["n"] == 2 and hook.delivered == 1
