"""The local cluster's layout and the choice ``oms broker`` makes, without starting a JVM."""

from __future__ import annotations

from pathlib import Path

import pytest

from devkit.broker_cli import local_kafka
from devkit.local_broker import LocalBroker, LocalCluster


def test_node_n_listens_on_port_plus_2n_and_every_node_knows_every_voter(tmp_path: Path) -> None:
    cluster = LocalCluster(tmp_path, nodes=3, port=40100)

    ports = [(node.port, node.controller_port) for node in cluster.nodes.values()]

    assert ports == [(40100, 40101), (40102, 40103), (40104, 40105)]
    assert cluster.bootstrap_servers == "127.0.0.1:40100,127.0.0.1:40102,127.0.0.1:40104"
    assert {node.server_config()["controller.quorum.voters"] for node in cluster.nodes.values()} == {
        "1@127.0.0.1:40101,2@127.0.0.1:40103,3@127.0.0.1:40105"
    }


def test_a_node_replicates_the_internal_topics_three_times_two_in_sync(tmp_path: Path) -> None:
    config = LocalCluster(tmp_path, nodes=3, port=40100).node(2).server_config()

    assert config["node.id"] == "2"
    assert config["listeners"] == "PLAINTEXT://127.0.0.1:40102,CONTROLLER://127.0.0.1:40103"
    assert config["offsets.topic.replication.factor"] == "3"
    assert config["transaction.state.log.replication.factor"] == "3"
    assert config["transaction.state.log.min.isr"] == "2"


def test_every_node_has_its_own_dir_and_all_share_one_cluster_id(tmp_path: Path) -> None:
    cluster = LocalCluster(tmp_path, nodes=3, port=40100)

    dirs = {node.data_dir for node in cluster.nodes.values()}
    ids = {node.cluster_id() for node in cluster.nodes.values()}

    assert len(dirs) == 3 and all(d.is_relative_to(cluster.cluster_dir) for d in dirs)
    assert len(ids) == 1
    assert LocalCluster(tmp_path, nodes=3, port=40100).cluster_id() in ids, "the id must survive"


def test_a_single_broker_keeps_its_own_config(tmp_path: Path) -> None:
    config = LocalBroker(tmp_path, port=40100).server_config()

    assert config["controller.quorum.voters"] == "1@127.0.0.1:40101"
    assert config["transaction.state.log.replication.factor"] == "1"
    assert "controlled.shutdown.enable" not in config


def test_a_cluster_has_at_least_two_nodes(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least 2"):
        LocalCluster(tmp_path, nodes=1)


def test_start_without_nodes_means_the_single_broker(tmp_path: Path) -> None:
    LocalCluster(tmp_path, nodes=3, port=40100).cluster_id()  # a cluster was started here once

    assert isinstance(local_kafka(tmp_path, 40100, None, "start"), LocalBroker)
    assert isinstance(local_kafka(tmp_path, 40100, 3, "start"), LocalCluster)


def test_stop_and_status_find_the_cluster_started_on_the_port(tmp_path: Path) -> None:
    cluster = LocalCluster(tmp_path, nodes=3, port=40100)
    for node in cluster.nodes.values():
        node.data_dir.mkdir(parents=True)

    found = local_kafka(tmp_path, 40100, None, "stop")

    assert isinstance(found, LocalCluster) and found.size == 3
    assert isinstance(local_kafka(tmp_path, 40200, None, "stop"), LocalBroker)
