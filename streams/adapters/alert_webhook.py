"""Alert changes delivered to a webhook URL, signed with Standard Webhooks.

Each change is one POST of ``{"type": "alert.changed", "timestamp", "data"}`` with the
``webhook-id`` (the alert id and its change time: a receiver dedupes redeliveries by it),
``webhook-timestamp`` and ``webhook-signature`` headers of the spec, signed with the
shared ``whsec_...`` secret. A thread sends them in order, retrying each a few times with
backoff; the monitor never waits for the receiver.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import urllib.error
import urllib.request
from datetime import UTC, datetime

from standardwebhooks.webhooks import Webhook

from streams.domain.alerts import AlertChanged

log = logging.getLogger(__name__)

RETRIES = 4


def signed_request(url: str, secret: str, alert: AlertChanged, now: datetime) -> urllib.request.Request:
    """The POST for one alert change, with the Standard Webhooks headers."""
    message_id = f"{alert.alert_id}@{alert.changed_at.isoformat()}"
    body = json.dumps(
        {"type": "alert.changed", "timestamp": now.isoformat(), "data": alert.model_dump(mode="json")},
        separators=(",", ":"),
    )
    signature = Webhook(secret).sign(message_id, now, body)
    headers = {
        "content-type": "application/json",
        "webhook-id": message_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signature,
        "user-agent": "kafka-iom-alerts",
    }
    return urllib.request.Request(url, data=body.encode(), headers=headers, method="POST")


class AlertWebhook:
    """Call it with each alert change; it delivers them on its own thread."""

    def __init__(self, url: str, secret: str, timeout: float = 5.0, backoff: float = 1.0) -> None:
        Webhook(secret)  # a malformed secret fails here, at start, not at the first alert
        self.url, self._secret, self._timeout, self._backoff = url, secret, timeout, backoff
        self._queue: queue.Queue[AlertChanged | None] = queue.Queue()
        self.delivered = 0
        self.failed = 0
        self._thread = threading.Thread(target=self._run, name="alert-webhook", daemon=True)
        self._thread.start()

    def __call__(self, alert: AlertChanged) -> None:
        self._queue.put(alert)

    def _run(self) -> None:
        stop = threading.Event()
        while (alert := self._queue.get()) is not None:
            for attempt in range(RETRIES):
                try:
                    request = signed_request(self.url, self._secret, alert, datetime.now(UTC))
                    with urllib.request.urlopen(request, timeout=self._timeout) as response:
                        response.read()
                    self.delivered += 1
                    break
                except (urllib.error.URLError, OSError) as exc:
                    log.warning("alert webhook %s: attempt %d failed: %s", self.url, attempt + 1, exc)
                    stop.wait(self._backoff * 2**attempt)
            else:
                self.failed += 1

    def close(self, timeout: float = 10.0) -> None:
        self._queue.put(None)
        self._thread.join(timeout)
