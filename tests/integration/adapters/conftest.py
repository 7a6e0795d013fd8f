"""The cluster test drives the real order writer through ``writer_harness.py`` of the
services tests: put that folder on ``sys.path`` (pytest's prepend import mode only adds each
test file's own folder)."""

from __future__ import annotations

import sys
from pathlib import Path

_SERVICES_TESTS = str(Path(__file__).resolve().parent.parent / "services")
if _SERVICES_TESTS not in sys.path:
    sys.path.insert(0, _SERVICES_TESTS)
