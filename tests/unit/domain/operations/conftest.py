"""The operations tests drive journeys with ``journey_driver`` and ``given`` from the
domain test folders: put them on ``sys.path``."""

from __future__ import annotations

import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent
for folder in (_HERE.parent, _HERE.parent / "orchestration"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
