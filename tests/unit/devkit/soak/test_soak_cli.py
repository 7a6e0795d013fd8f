"""``oms soak`` options: the default plan kills every process kind and takes the broker down
once; ``--cluster`` plans a SIGKILL of one of three brokers, and the audit rows name it and
the topics' replication."""

from __future__ import annotations

from pathlib import Path

from devkit.local_broker import LocalCluster
from devkit.soak.runner import CLUSTER_NODES, SoakOptions, cluster_rows
from devkit.soak.schedule import DEFAULT_KILLS, ChaosEvent, ChaosKind, ProcessKind, plan_soak
from devkit.soak.supervisor import Outage


def test_the_default_options_plan_a_thousand_orders_every_kind_killed_and_the_broker_stopped() -> None:
    plan = SoakOptions().plan()

    assert plan == plan_soak(1000, 1, rate=3.0, kills=DEFAULT_KILLS)
    assert {e.target for e in plan.kills()} == {k.value for k in ProcessKind}
    assert [e.kind for e in plan.chaos if e.kind is not ChaosKind.KILL] == [ChaosKind.BROKER_OUTAGE]


def test_the_cluster_option_plans_one_broker_of_three_killed() -> None:
    plan = SoakOptions(cluster=True, orders=40, seed=3).plan()

    (kill,) = [e for e in plan.chaos if e.kind is not ChaosKind.KILL]
    assert plan.nodes == CLUSTER_NODES == 3
    assert kill.kind is ChaosKind.BROKER_KILL and kill.node in {1, 2, 3}
    assert f"SIGKILL broker-{kill.node} (cluster node {kill.node})" in plan.describe()


def test_without_the_broker_outage_the_cluster_keeps_every_broker() -> None:
    plan = SoakOptions(cluster=True, broker_outage=False).plan()

    assert all(e.kind is ChaosKind.KILL for e in plan.chaos)


def test_the_cluster_rows_name_the_killed_broker_and_the_topics_replication(tmp_path: Path) -> None:
    cluster = LocalCluster(tmp_path, nodes=3, port=29300)
    kill = ChaosEvent(40.0, ChaosKind.BROKER_KILL, "broker-2", 8.0, node=2)
    outages = [Outage(kill, began=40.2, ended=61.4, pid=4321, in_sync=64.9)]
    copies = {"soak.order.commands": (3, "2"), "soak.order.created": (3, "2"), "faust-leader": (3, "1")}

    rows = dict(cluster_rows(cluster, outages, copies))

    assert rows["broker killed (SIGKILL, 3-node cluster)"] == (
        "broker-2: node 2 on 127.0.0.1:29302 (pid 4321) at t+40s, back at t+61s, replicas in sync at t+65s"
    )
    assert rows["topics' replicas and min.insync.replicas"] == (
        "3 and 2 on 2 topics; 3 and 1 on 1 topics (not 3 and 2: faust-leader)"
    )


def test_a_broker_that_never_caught_up_is_said_so(tmp_path: Path) -> None:
    cluster = LocalCluster(tmp_path, nodes=3, port=29300)
    kill = ChaosEvent(40.0, ChaosKind.BROKER_KILL, "broker-3", 8.0, node=3)

    rows = dict(cluster_rows(cluster, [Outage(kill, began=40.0, ended=55.0, pid=7)], {}))

    assert rows["broker killed (SIGKILL, 3-node cluster)"].endswith("back at t+55s, replicas never in sync")
