"""A connector process on the real broker: its Faust agent consumes only its provider's
request topic, answers on ``order.commands`` in the order's partition, commits what it
answered (past the writer's transaction markers, so its lag reads 0), and after a SIGKILL
answers what was left without a second order at the provider. Also the DOM stand-in,
which answers DOM's topic only."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from conn_processes import (
    action_request,
    call,
    connector_env,
    flexe_rig,
    read_answers,
    send_requests,
)

from streams.adapters.kafka import admin, partition_for
from streams.adapters.lag import consumer_lag, wait_until_caught_up
from streams.bootstrap import Components
from streams.domain.order import order_of
from streams.settings import REPO_ROOT


def test_the_flexe_connector_answers_its_requests_and_survives_a_kill_without_a_second_order(
    oms: Components, tmp_path: Path
) -> None:
    with flexe_rig(oms, tmp_path) as flexe:
        connector = flexe.start_connector()
        first = [action_request(oms, "flexe", "send_to_fulfillment", f"IT-{n}", 2) for n in range(6)]
        # Not Flexe's: another provider's topic, which this connector must leave alone.
        send_requests(oms, [*first, action_request(oms, "sap", "send_to_billing", "IT-SAP", 5)])
        answered = read_answers(oms, {r.action_id for r in first})

        connector.send_signal(signal.SIGKILL)
        connector.wait(10)
        second = [action_request(oms, "flexe", "send_to_fulfillment", f"IT-{n}", 2) for n in range(6, 10)]
        send_requests(oms, second)
        connector = flexe.start_connector()
        answered = read_answers(oms, {r.action_id for r in first + second})
        outbound = call(f"{flexe.sim_url}/_sim/outbound_orders")["outbound_orders"]
        connector.send_signal(signal.SIGTERM)
        stopped = connector.wait(timeout=5)  # SIGTERM stops a connector within 5 s, cleanly

    assert stopped == 0
    assert "IT-SAP/send_to_billing/1" not in answered
    for r in first + second:
        partitions = {p for p, _ in answered[r.action_id]}
        assert partitions == {partition_for(r.order_id, 3)}
        assert all(a.success for _, a in answered[r.action_id])
    # A request answered but not yet committed at the kill is answered again: Flexe still has one order.
    assert sorted(o["externalId"] for o in outbound) == sorted(r.order_id for r in first + second)


def test_the_dom_stand_in_answers_doms_topic_only(oms: Components, tmp_path: Path) -> None:
    log = (tmp_path / "stand-in.log").open("wb")
    stand_in = subprocess.Popen(
        [sys.executable, "-m", "devkit.stand_in", "--provider", "dom"],
        env=connector_env(oms),
        cwd=REPO_ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        dom = action_request(oms, "dom", "send_to_fulfillment_optimization", "IT-DOM", 6)
        send_requests(oms, [dom, action_request(oms, "fno", "send_to_billing", "IT-FNO", 6)])
        answered = read_answers(oms, {dom.action_id})
    finally:
        stand_in.terminate()
        stand_in.wait(20)
        log.close()

    [(_, result)] = answered[dom.action_id]
    lines = order_of(dom).lines
    assert result.success and result.data == {f"warehouse.{line.line_id}": "11" for line in lines}
    assert "IT-FNO/send_to_billing/1" not in answered


def test_a_caught_up_connector_reads_lag_0_past_the_writers_transaction_markers(
    oms: Components, tmp_path: Path
) -> None:
    with flexe_rig(oms, tmp_path) as flexe:
        flexe.start_connector()
        requests = [action_request(oms, "flexe", "send_to_fulfillment", f"IT-LAG-{n}", 2) for n in range(6)]
        send_requests(oms, requests, transactional=True)
        read_answers(oms, {r.action_id for r in requests}, linger=0)
        group = f"{oms.topics.prefix}oms-connector-flexe"
        behind = wait_until_caught_up(admin(oms.settings), [group], timeout=60)
        committed = consumer_lag(admin(oms.settings), group)

    assert behind == {}
    assert committed == {(oms.topics.provider_requests("flexe"), p): 0 for p in range(3)}
