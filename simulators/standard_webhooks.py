"""Standard Webhooks signing, as BigCommerce uses it for HTTPS webhooks.

provider-apis.md section 1.8 [BC-WHS], [SW]: callbacks carry ``webhook-id``,
``webhook-timestamp`` (unix seconds) and ``webhook-signature: v1,<base64 HMAC-SHA256>``
over ``"{id}.{timestamp}.{raw_body}"``; "the key is base64(client_secret)".

That key is the Standard Webhooks *secret string*: BigCommerce's own sample passes
``base64.b64encode(client_secret.encode())`` to the reference library's
``Webhook(secret)``, which base64-decodes it again, so the HMAC key bytes are the client
secret's UTF-8 bytes. :func:`bigcommerce_secret` builds that secret string;
:func:`sign` and :func:`verify` behave like the reference library
(standard-webhooks ``libraries/python/standardwebhooks/webhooks.py``), so a connector can
use either this module or the library in its tests and get the same answer.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Mapping
from typing import Final

TOLERANCE_SECONDS: Final = 5 * 60
_PREFIX: Final = "whsec_"


class VerificationError(Exception):
    """The callback is not authentic (or is too old or too new)."""


def bigcommerce_secret(client_secret: str) -> str:
    """The Standard Webhooks secret BigCommerce signs with: base64 of the client secret."""
    return base64.b64encode(client_secret.encode()).decode()


def _key(secret: str) -> bytes:
    raw = secret.removeprefix(_PREFIX)
    return base64.b64decode(raw + "=" * (-len(raw) % 4))


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """``v1,<base64 HMAC-SHA256(b64decode(secret), "{id}.{timestamp}.{body}")>``."""
    to_sign = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(_key(secret), to_sign, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def headers(secret: str, msg_id: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    """The three Standard Webhooks headers for one delivery attempt."""
    ts = int(time.time()) if timestamp is None else timestamp
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(ts),
        "webhook-signature": sign(secret, msg_id, ts, body),
    }


def verify(
    secret: str,
    received: Mapping[str, str],
    body: bytes,
    *,
    now: float | None = None,
    tolerance: int = TOLERANCE_SECONDS,
) -> None:
    """Raise :class:`VerificationError` unless one ``v1`` signature matches in time."""
    lowered = {k.lower(): v for k, v in received.items()}
    msg_id = lowered.get("webhook-id")
    stamp = lowered.get("webhook-timestamp")
    signatures = lowered.get("webhook-signature")
    if not (msg_id and stamp and signatures):
        raise VerificationError("missing webhook-id, webhook-timestamp or webhook-signature")
    try:
        ts = int(stamp)
    except ValueError as exc:
        raise VerificationError(f"bad webhook-timestamp {stamp!r}") from exc
    current = time.time() if now is None else now
    if abs(current - ts) > tolerance:
        raise VerificationError("webhook-timestamp outside the tolerance")
    expected = sign(secret, msg_id, ts, body).encode()
    for candidate in signatures.split(" "):
        if candidate.startswith("v1,") and hmac.compare_digest(candidate.encode(), expected):
            return
    raise VerificationError("no matching signature")
