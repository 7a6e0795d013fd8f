"""``oms soak --cluster`` waits for the 3-node cluster (issue 10, item 4) and says so."""

from __future__ import annotations

import pytest

from devkit.soak.runner import SoakError, SoakOptions, run_soak


def test_the_cluster_switch_refuses_until_the_cluster_exists() -> None:
    with pytest.raises(SoakError, match="needs the 3-node cluster"):
        run_soak(SoakOptions(cluster=True), say=lambda _: None)
