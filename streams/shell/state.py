"""The state folder knows whom it belongs to.

Local stores are caches of the topics of one cluster under one topic prefix. Opened
against another cluster (a broker reset, another environment) or prefix, their
checkpoints point at offsets that do not exist or mean something else (``Offset out of
range``, or silently wrong states). So the folder records its owner in
``identity.json`` when first used; a process that finds another owner refuses to start
with a message that says what to do, or clears the folder when asked
(``--state-rebuild``): everything in it is rebuilt from the topics.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

log = logging.getLogger(__name__)

IDENTITY_FILE = "identity.json"


class StateMismatch(Exception):
    """The state folder belongs to another cluster or topic prefix."""


@dataclass(frozen=True)
class StateIdentity:
    cluster_id: str
    topic_prefix: str


def read_identity(state_dir: Path) -> StateIdentity | None:
    try:
        data = json.loads((state_dir / IDENTITY_FILE).read_text())
        return StateIdentity(str(data["cluster_id"]), str(data["topic_prefix"]))
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError) as exc:
        raise StateMismatch(
            f"the state folder {state_dir} has an unreadable {IDENTITY_FILE} ({exc}); "
            "start with --state-rebuild to clear it"
        ) from exc


def clear_state(state_dir: Path) -> None:
    """Delete everything in the folder (it is rebuilt from the topics)."""
    if state_dir.exists():
        shutil.rmtree(state_dir)


def claim_state(state_dir: Path, owner: StateIdentity, *, rebuild: bool = False) -> None:
    """Make ``state_dir`` ``owner``'s: record it in a new folder (or one from before identities),
    accept it when it matches; when it is another's, clear it if ``rebuild``, else refuse
    (:class:`StateMismatch`)."""
    try:
        found = read_identity(state_dir)
    except StateMismatch:
        if not rebuild:
            raise
        found = StateIdentity("?", "?")
    if found == owner:
        return
    holds_stores = state_dir.is_dir() and any(
        not p.name.startswith((IDENTITY_FILE, ".")) for p in state_dir.iterdir()
    )
    if found is not None and holds_stores and not rebuild:
        raise StateMismatch(
            f"the state folder {state_dir} belongs to cluster {found.cluster_id} with topic prefix "
            f"{found.topic_prefix!r}, not to cluster {owner.cluster_id} with prefix {owner.topic_prefix!r}.\n"
            "Give this process its own --state-dir (OMS_STATE_DIR), or start it with --state-rebuild "
            "(OMS_STATE_REBUILD=1) to clear the folder: its stores are rebuilt from the topics."
        )
    if found is not None and holds_stores:
        log.warning("clearing the state folder %s (rebuilt from the topics)", state_dir)
        clear_state(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    written = state_dir / f".{IDENTITY_FILE}.{os.getpid()}"
    written.write_text(json.dumps(asdict(owner), indent=2) + "\n")
    written.replace(state_dir / IDENTITY_FILE)  # atomic: a process starting beside never reads half
