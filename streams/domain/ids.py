"""Deterministic identities: the same command always yields the same event ids, and the
same event the same reactions' command ids."""

from __future__ import annotations

import hashlib
import uuid

_EVENTS = uuid.UUID("6f1c1f4e-52c4-4a0e-9d7c-2b5e1c9f0a11")
_COMMANDS = uuid.UUID("0b6c4d2e-7f0a-4c53-9a51-3f7e2d8c1b90")
_EVENTS_SHA1 = hashlib.sha1(_EVENTS.bytes)
_COMMANDS_SHA1 = hashlib.sha1(_COMMANDS.bytes)
"""Each namespace hashed once: a copy of it costs less than a new hash (OpenSSL's lookup)."""
_VARIANT = {f"{n:x}": f"{(n & 0x3) | 0x8:x}" for n in range(16)}
"""A hex digit with its top two bits set to the RFC 4122 variant, ``10``."""


def _uuid5(namespace: hashlib._Hash, name: str) -> str:
    """Exactly ``str(uuid.uuid5(ns, name))`` for ``namespace = sha1(ns.bytes)``, spelled out
    on the hex digest: the writer makes one per event and per reaction, and skipping the
    UUID object (and the byte twiddling) costs a third of it."""
    sha1 = namespace.copy()
    sha1.update(name.encode())
    h = sha1.hexdigest()
    # version 5 in the 13th hex digit; the RFC 4122 variant (10xx) in the 17th
    return f"{h[:8]}-{h[8:12]}-5{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:32]}"


def event_id(command_id: str, index: int) -> str:
    """The id of the ``index``-th event caused by ``command_id``: a redelivered command
    produces records that every fold recognises as duplicates."""
    return _uuid5(_EVENTS_SHA1, f"{command_id}/{index}")


def reaction_id(event_id: str, what: str) -> str:
    """The id of the command a flow step (``what``) issues in reaction to ``event_id``: a
    re-run after a crash issues the same commands."""
    return _uuid5(_COMMANDS_SHA1, f"{event_id}/{what}")
