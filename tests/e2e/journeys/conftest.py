"""End-to-end journeys: everything as its own process, as a user would start it.

The broker (``kafka_bootstrap`` of tests/e2e/conftest.py), ``oms topics create``,
``oms flows publish``, the order writer, and ``devkit.world``: the four provider
simulators, the four connectors and a DOM stand-in. One stack per test module, on topics of its own prefix.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator

import pytest
from conn_e2e_stack import Stack
from oms_processes import run_oms

from devkit.world import OrderWatch, World, free_port, start_world
from streams.adapters.kafka import admin, delete_topics
from streams.bootstrap import bootstrap
from streams.settings import REPO_ROOT, Settings


@pytest.fixture(scope="module")
def stack(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    workdir = tmp_path_factory.mktemp("journeys")
    prefix = f"e{uuid.uuid4().hex[:8]}."
    metrics_port = free_port()
    settings = Settings(
        bootstrap_servers=kafka_bootstrap, topic_prefix=prefix, partitions=3, state_dir=workdir / "oms-state"
    )
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "OMS_TOPIC_PREFIX": prefix,
        "OMS_PARTITIONS": "3",
        "OMS_STATE_DIR": str(settings.state_dir),
        "OMS_INSTANCE_ID": f"writer-{prefix}",
        "OMS_LOG_FORMAT": "json",
        "OMS_METRICS_PORT": str(metrics_port),
    }
    components = bootstrap(settings)
    run_oms(env, "topics", "create")
    run_oms(env, "flows", "publish")
    log = (workdir / "writer.log").open("wb")
    writer = subprocess.Popen(
        [sys.executable, "-m", "streams.cli", "writer", "--log-level", "WARNING"],
        env=env,
        cwd=REPO_ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    world: World | None = None
    try:
        world = start_world(settings, workdir / "world", http_tries=3, http_timeout=1.0, hang_seconds=2.5)
        prefixes = (world.bigcommerce_prefix, world.fno_prefix)
        with OrderWatch(settings, components.topics, components.codec, prefixes) as watch:
            yield Stack(components, world, watch, writer, f"http://127.0.0.1:{metrics_port}", workdir)
    finally:
        if world is not None:
            world.stop()
        writer.terminate()
        try:
            writer.wait(30)
        except subprocess.TimeoutExpired:
            writer.kill()
        log.close()
        # The registry's topics and the connectors' Faust topics; the logs stay in workdir.
        ours = [t for t in admin(settings).list_topics(timeout=30).topics if t.startswith(prefix)]
        delete_topics(settings, ours)
