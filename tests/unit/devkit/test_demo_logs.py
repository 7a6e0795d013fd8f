"""On a failure the demo prints the last lines of the process that failed (each process
logs to its own file under .oms/demo/logs)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from devkit.demo import show_failure


def _exited(code: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen([sys.executable, "-c", f"raise SystemExit({code})"])
    process.wait(30)
    return process


def test_the_process_that_exited_with_an_error_is_shown(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "order-writer.log").write_text(
        "\n".join(f"line {n}" for n in range(100)) + "\nOffset out of range\n"
    )
    (tmp_path / "dom.log").write_text("all well\n")
    show_failure(tmp_path, {"order-writer": _exited(1), "dom": _exited(0)}, lines=5)
    err = capsys.readouterr().err
    assert "order-writer (exited 1)" in err and "Offset out of range" in err and "line 96" in err
    assert "line 94" not in err and "all well" not in err


def test_without_a_dead_process_the_logs_with_errors_are_shown(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "connector-fno.log").write_text('{"level": "ERROR", "message": "cannot reach F&O"}\n')
    (tmp_path / "sim-fno.log").write_text('{"level": "INFO", "message": "fine"}\n')
    show_failure(tmp_path, {}, lines=5)
    err = capsys.readouterr().err
    assert "connector-fno" in err and "cannot reach F&O" in err and "sim-fno" not in err
