"""The orchestration tests reuse ``given.py`` from the folder above: put it on ``sys.path``
(pytest's prepend import mode only adds each test file's own folder)."""

from __future__ import annotations

import sys
from pathlib import Path

_DOMAIN_TESTS = str(Path(__file__).resolve().parent.parent)
if _DOMAIN_TESTS not in sys.path:
    sys.path.insert(0, _DOMAIN_TESTS)
