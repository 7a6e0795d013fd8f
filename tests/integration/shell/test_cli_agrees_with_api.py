"""``oms reprocess`` answers as ``POST /orders/{id}/reprocess`` does: both ask
``reprocess_refusal``, so an unknown order is refused by both, with the same words."""

from __future__ import annotations

import subprocess
import sys

from shell_processes import oms_env

from streams.adapters.http.app import reprocess_refusal
from streams.settings import REPO_ROOT


def test_reprocess_of_an_unknown_order_is_refused_like_the_api(
    kafka_bootstrap: str, topic_prefix: str
) -> None:
    order_id = f"{topic_prefix}NOPE-1"
    done = subprocess.run(
        [sys.executable, "-m", "streams.cli", "reprocess", order_id, "--topic-prefix", topic_prefix],
        env=oms_env(KAFKA_BOOTSTRAP_SERVERS=kafka_bootstrap),
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    refused = reprocess_refusal(order_id, None)
    assert refused is not None and refused[0] == 404
    assert done.returncode == 1
    assert refused[1] in done.stderr
    assert "Traceback" not in done.stderr
