"""The shared settings, where the services and adapters have always found them.

The classes live in ``streams.shell.settings`` (one per process kind); this module keeps
``from streams.settings import Settings, REPO_ROOT`` working.
"""

from __future__ import annotations

from streams.shell.settings import REPO_ROOT, Settings

__all__ = ["REPO_ROOT", "Settings"]
