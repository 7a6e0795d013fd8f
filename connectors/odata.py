"""OData details the F&O and SAP connectors share: string literals in ``$filter`` and
keys, and the OData v4 ``$batch`` (multipart/mixed) request and response format."""

from __future__ import annotations

import email
import email.policy
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


def literal(value: str) -> str:
    """An OData string literal: single quotes, inner quotes doubled."""
    return "'" + value.replace("'", "''") + "'"


def key(**fields: str) -> str:
    """An entity key segment, e.g. ``(dataAreaId='usmf',SalesOrderNumber='000123')``."""
    return "(" + ",".join(f"{name}={literal(value)}" for name, value in fields.items()) + ")"


@dataclass(frozen=True)
class BatchRequest:
    method: str
    url: str
    body: Any = None


@dataclass(frozen=True)
class BatchAnswer:
    status: int
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body) if self.body.strip() else None


def changeset(requests: Sequence[BatchRequest]) -> tuple[bytes, str]:
    """One ``$batch`` body holding one changeset (all or nothing), and its Content-Type."""
    batch = f"batch_{uuid.uuid4()}"
    change = f"changeset_{uuid.uuid4()}"
    parts = []
    for n, request in enumerate(requests, start=1):
        payload = "" if request.body is None else json.dumps(request.body, separators=(",", ":"))
        parts.append(
            f"--{change}\r\n"
            "Content-Type: application/http\r\n"
            "Content-Transfer-Encoding: binary\r\n"
            f"Content-ID: {n}\r\n"
            "\r\n"
            f"{request.method} {request.url} HTTP/1.1\r\n"
            "Content-Type: application/json; type=entry\r\n"
            "Accept: application/json\r\n"
            "\r\n"
            f"{payload}\r\n"
        )
    inner = "".join(parts) + f"--{change}--\r\n"
    body = f"--{batch}\r\nContent-Type: multipart/mixed; boundary={change}\r\n\r\n{inner}--{batch}--\r\n"
    return body.encode(), f"multipart/mixed; boundary={batch}"


def batch_answers(content_type: str, body: bytes) -> list[BatchAnswer]:
    """Every ``application/http`` answer in a ``$batch`` response, in order (a failed
    changeset answers once, with its error)."""
    message = email.message_from_bytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body, policy=email.policy.HTTP
    )
    answers = []
    for part in message.walk():
        if part.get_content_type() != "application/http":
            continue
        raw = part.get_payload(decode=True)
        if not isinstance(raw, bytes):
            continue
        answers.append(_http_answer(raw))
    return answers


def _http_answer(raw: bytes) -> BatchAnswer:
    text = raw.replace(b"\r\n", b"\n").lstrip(b"\n")
    status_line, _, rest = text.partition(b"\n")
    pieces = status_line.split()
    if len(pieces) < 2 or not pieces[1].isdigit():
        raise ValueError(f"not an HTTP answer: {status_line[:60]!r}")
    _headers, _, content = rest.partition(b"\n\n")
    return BatchAnswer(int(pieces[1]), content.strip())
