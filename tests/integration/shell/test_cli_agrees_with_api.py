"""``oms reprocess`` answers as ``POST /orders/{id}/reprocess`` does: both ask
``reprocess_refusal``, so an unknown order is refused by both, with the same words; and
a prefix without topics is named, not waited on."""

from __future__ import annotations

import subprocess
import sys

from shell_processes import oms_env

from streams.adapters.http.app import reprocess_refusal
from streams.settings import REPO_ROOT, Settings


def _reprocess(settings: Settings, order_id: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "streams.cli", "reprocess", order_id, "--topic-prefix", settings.topic_prefix],
        env=oms_env(
            KAFKA_BOOTSTRAP_SERVERS=settings.bootstrap_servers, OMS_PARTITIONS=str(settings.partitions)
        ),
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_reprocess_of_an_unknown_order_is_refused_like_the_api(topics: Settings) -> None:
    order_id = f"{topics.topic_prefix}NOPE-1"
    done = _reprocess(topics, order_id)
    refused = reprocess_refusal(order_id, None)
    assert refused is not None and refused[0] == 404
    assert done.returncode == 1
    assert refused[1] in done.stderr
    assert "Traceback" not in done.stderr


def test_a_prefix_without_topics_is_named(kafka_bootstrap: str) -> None:
    settings = Settings(bootstrap_servers=kafka_bootstrap, topic_prefix="nothing-here.")
    done = _reprocess(settings, "BC-1")
    assert done.returncode == 1
    assert "topic prefix 'nothing-here.'" in done.stderr and "oms topics create" in done.stderr
