"""Deterministic identities: the same command always yields the same event ids."""

from __future__ import annotations

import uuid

_EVENTS = uuid.UUID("6f1c1f4e-52c4-4a0e-9d7c-2b5e1c9f0a11")


def event_id(command_id: str, index: int) -> str:
    """The id of the ``index``-th event caused by ``command_id``: a redelivered command
    produces records that every fold recognises as duplicates."""
    return str(uuid.uuid5(_EVENTS, f"{command_id}/{index}"))
