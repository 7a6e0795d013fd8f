"""Connector configuration: secrets from the environment or a file, never shown; every
connector explains itself with --help."""

from __future__ import annotations

import importlib
import logging
from pathlib import Path

import pytest

from connectors.config import ConfigError, Secret, read_secret


def test_a_secret_comes_from_the_file_its_file_variable_names(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text("from-file\n")
    found = read_secret("FLEXE_API_TOKEN", {"FLEXE_API_TOKEN": "from-env", "FLEXE_API_TOKEN_FILE": str(path)})
    assert found is not None and found.reveal() == "from-file"


def test_a_secret_comes_from_its_variable() -> None:
    found = read_secret("FLEXE_API_TOKEN", {"FLEXE_API_TOKEN": "from-env"})
    assert found is not None and found.reveal() == "from-env"


def test_a_missing_secret_says_what_to_set(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="set FNO_CLIENT_SECRET \\(or FNO_CLIENT_SECRET_FILE"):
        read_secret("FNO_CLIENT_SECRET", {})
    assert read_secret("FNO_WEBHOOK_KEY", {}, required=False) is None
    with pytest.raises(ConfigError, match="cannot be read"):
        read_secret("SAP_PASSWORD", {"SAP_PASSWORD_FILE": str(tmp_path / "nope")})


def test_a_secret_never_shows_its_value(caplog: pytest.LogCaptureFixture) -> None:
    secret = Secret("SAP_PASSWORD", "hunter2")
    logging.getLogger("test").warning("connecting with %s / %r / %s", secret, secret, f"{secret}")
    assert "hunter2" not in caplog.text and "hunter2" not in repr([secret])
    assert secret.reveal() == "hunter2"


@pytest.mark.parametrize("provider", ["bigcommerce", "fno", "flexe", "sap"])
def test_every_connector_explains_itself(provider: str, capsys: pytest.CaptureFixture[str]) -> None:
    module = importlib.import_module(f"connectors.{provider}")
    with pytest.raises(SystemExit) as done:
        module.main(["--help"])
    assert done.value.code == 0
    assert f"python -m connectors.{provider}" in capsys.readouterr().out


def test_a_connector_without_its_credentials_refuses_to_start(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from connectors import flexe

    for name in ("FLEXE_API_TOKEN", "FLEXE_API_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(SystemExit) as done:
        flexe.main(["--owner-id", "me"])
    assert done.value.code == 2
    assert "set FLEXE_API_TOKEN (or FLEXE_API_TOKEN_FILE" in capsys.readouterr().err
