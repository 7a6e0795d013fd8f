"""The connector's Faust app: its consumer's fetch wait (connectors/runtime.py)."""

from __future__ import annotations

import pytest

from connectors.runtime import FETCH_MAX_WAIT_MS, ConnectorApp


@pytest.mark.asyncio
async def test_a_connector_fetches_with_a_short_wait_not_fausts_hard_coded_one() -> None:
    app = ConnectorApp("latency-test", broker="kafka://127.0.0.1:1", store="memory://")
    consumer = app.consumer._thread._create_worker_consumer(app.transport)
    try:
        assert consumer._fetch_max_wait_ms == FETCH_MAX_WAIT_MS < 1500
    finally:
        await consumer.stop()
