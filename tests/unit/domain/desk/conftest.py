"""The order-desk tests reuse ``given.py`` (tests/unit/domain) and the journey driver
(tests/unit/domain/orchestration): put both folders on ``sys.path`` (pytest's prepend
import mode only adds each test file's own folder)."""

from __future__ import annotations

import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent
for folder in (_HERE.parent, _HERE.parent / "orchestration"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
