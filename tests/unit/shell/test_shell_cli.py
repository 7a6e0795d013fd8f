"""The ``oms`` command: bad flag values are usage errors of their subcommand (exit 2, its
usage), every command explains itself, and expected failures print no traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.cli import main
from streams.shell.state import StateIdentity, StateMismatch, claim_state


@pytest.mark.parametrize(
    ("argv", "usage", "flag"),
    [
        (["writer", "--log-level", "LOUD"], "oms writer", "--log-level"),
        (["api", "--port", "99999"], "oms api", "--port"),
        (["broker", "start", "--port", "99999"], "oms broker start", "--port"),
        (["demo", "--orders", "-3"], "oms demo", "--orders"),
        (["writer", "--batch-size", "0"], "oms writer", "--batch-size"),
        (["backorders", "log", "--last", "0"], "oms backorders log", "--last"),
    ],
)
def test_a_bad_flag_value_is_a_usage_error_of_its_subcommand(
    argv: list[str], usage: str, flag: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"Usage: {usage}" in err
    assert flag in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    "argv",
    [
        ["show"],
        ["reprocess"],
        ["topics", "create"],
        ["flows", "list"],
        ["schemas", "lock"],
        ["writer"],
        ["dom"],
        ["api"],
        ["backorders", "run"],
        ["broker", "reset"],
    ],
)
def test_every_command_has_a_description(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*argv, "--help"]) == 0
    out = capsys.readouterr().out
    assert f"Usage: oms {' '.join(argv)}" in out
    after_usage = out.split("Usage:", 1)[1].splitlines()[1:]
    description = next(line.strip() for line in after_usage if line.strip())
    assert len(description) > 20 and not description.startswith("╭"), out


@pytest.mark.parametrize(
    ("argv", "flag"), [(["reprocess", "--help"], "--reason"), (["writer", "--help"], "--log-level")]
)
def test_flags_have_help_naming_their_variable(
    argv: list[str], flag: str, capsys: pytest.CaptureFixture[str]
) -> None:
    main(argv)
    out = " ".join(capsys.readouterr().out.replace("│", " ").split())
    assert flag in out
    if flag == "--log-level":
        assert "OMS_LOG_LEVEL" in out


def test_the_state_folder_refuses_another_cluster(tmp_path: Path) -> None:
    state = tmp_path / "state"
    claim_state(state, StateIdentity("cluster-a", "p."))
    (state / "writer-1").mkdir()
    claim_state(state, StateIdentity("cluster-a", "p."))
    with pytest.raises(StateMismatch, match=r"belongs to cluster cluster-a (.|\n)*--state-rebuild"):
        claim_state(state, StateIdentity("cluster-b", "p."))
    with pytest.raises(StateMismatch, match=r"prefix 'p\.'"):
        claim_state(state, StateIdentity("cluster-a", "q."))


def test_the_state_folder_is_cleared_when_asked(tmp_path: Path) -> None:
    state = tmp_path / "state"
    claim_state(state, StateIdentity("cluster-a", ""))
    (state / "projection-default").mkdir()
    claim_state(state, StateIdentity("cluster-b", ""), rebuild=True)
    assert not (state / "projection-default").exists()
    claim_state(state, StateIdentity("cluster-b", ""))  # now it is cluster-b's


def test_a_production_command_starts_without_loading_the_plugins() -> None:
    from typer.main import get_group

    from streams.cli import build_app

    alone = get_group(build_app("writer")).commands
    everything = get_group(build_app(None)).commands
    for_a_plugin = get_group(build_app("soak")).commands

    assert "writer" in alone and "soak" not in alone and "broker" not in alone
    assert {"writer", "soak", "broker", "connector", "simulator", "demo"} <= set(everything)
    assert set(for_a_plugin) == set(everything)
