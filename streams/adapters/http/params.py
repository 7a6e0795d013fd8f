"""Query parameters: parsed strictly, refused with a message that names the parameter.

Every error is a ``BadParameter`` whose text starts with the parameter's name, e.g.
``as_of: not an ISO-8601 time: 'yesterday'``; the app turns it into a 400.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Collection
from datetime import UTC, datetime

from multidict import MultiMapping


class BadParameter(ValueError):
    pass


def check_known(query: MultiMapping[str], known: Collection[str]) -> None:
    """Unknown or repeated parameters are errors: ``?staus=x`` must not list everything."""
    for name in query:
        if name not in known:
            shown = ", ".join(sorted(known)) or "none"
            raise BadParameter(f"{name}: unknown parameter (known: {shown})")
        if len(query.getall(name)) > 1:
            raise BadParameter(f"{name}: given more than once")


def text(query: MultiMapping[str], name: str) -> str | None:
    value = query.get(name)
    if value is None:
        return None
    value = value.strip()
    if not value:
        raise BadParameter(f"{name}: empty; leave the parameter out instead")
    return value


def iso_time(query: MultiMapping[str], name: str) -> datetime | None:
    """An ISO-8601 time; one without an offset is taken as UTC."""
    value = query.get(name)
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise BadParameter(f"{name}: not an ISO-8601 time: {value!r}") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def integer(query: MultiMapping[str], name: str, low: int, high: int) -> int | None:
    value = query.get(name)
    if value is None:
        return None
    try:
        parsed = int(value)
    except ValueError:
        raise BadParameter(f"{name}: not an integer: {value!r}") from None
    if not low <= parsed <= high:
        raise BadParameter(f"{name}: {parsed} is out of range [{low}, {high}]")
    return parsed


def seconds(query: MultiMapping[str], name: str, high: float) -> float | None:
    value = query.get(name)
    if value is None:
        return None
    try:
        parsed = float(value)
    except ValueError:
        raise BadParameter(f"{name}: not a number of seconds: {value!r}") from None
    if not 0 <= parsed <= high:  # also refuses nan
        raise BadParameter(f"{name}: {value} is out of range [0, {high:g}] seconds")
    return parsed


def boolean(query: MultiMapping[str], name: str, default: bool) -> bool:
    value = query.get(name)
    if value is None:
        return default
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes"):
        return True
    if lowered in ("0", "false", "no"):
        return False
    raise BadParameter(f"{name}: not a boolean (true/false): {value!r}")


def _fingerprint(filters: dict[str, str | None]) -> str:
    canonical = json.dumps(filters, sort_keys=True).encode()
    return hashlib.sha256(canonical).hexdigest()[:12]


def encode_cursor(after: str, filters: dict[str, str | None]) -> str:
    """An opaque cursor: the last order id of a page, bound to the filters that made it."""
    data = json.dumps({"after": after, "filters": _fingerprint(filters)}).encode()
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def decode_cursor(query: MultiMapping[str], name: str, filters: dict[str, str | None]) -> str | None:
    value = query.get(name)
    if value is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        data = json.loads(raw)
        after = data["after"]
        fingerprint = data["filters"]
        if not isinstance(after, str) or not isinstance(fingerprint, str):
            raise TypeError
    except (binascii.Error, ValueError, KeyError, TypeError):
        raise BadParameter(f"{name}: not a cursor this API issued: {value!r}") from None
    if fingerprint != _fingerprint(filters):
        raise BadParameter(
            f"{name}: issued for other filters; repeat the filters of the first page "
            "or start again without a cursor"
        )
    return after
