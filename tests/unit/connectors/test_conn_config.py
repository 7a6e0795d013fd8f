"""Connector settings: secrets from the environment or a file, never shown; every connector
explains itself with --help; a missing setting is a usage error that names it."""

from __future__ import annotations

import importlib
import logging
from pathlib import Path

import pytest

from connectors.config import FlexeSettings, FnoSettings, SapSettings, Secret, runtime_config


def test_a_secret_comes_from_the_file_its_file_variable_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "token"
    path.write_text("from-file\n")
    monkeypatch.setenv("FLEXE_API_TOKEN", "from-env")
    monkeypatch.setenv("FLEXE_API_TOKEN_FILE", str(path))
    settings = FlexeSettings(owner_id="me")
    assert settings.required_secret("api_token").reveal() == "from-file"
    assert "from-file" not in repr(settings)


def test_a_connector_reads_its_own_and_the_shared_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLEXE_OWNER_ID", "owner-7")
    monkeypatch.setenv("FLEXE_API_TOKEN", "t")
    monkeypatch.setenv("FLEXE_PORT", "9200")
    monkeypatch.setenv("OMS_TOPIC_PREFIX", "p.")
    monkeypatch.setenv("OMS_HTTP_TRIES", "2")
    runtime = runtime_config(FlexeSettings())
    assert (runtime.listen_port, runtime.group_id, runtime.http.tries) == (9200, "p.oms-connector-flexe", 2)
    assert runtime.settings.owner_id == "owner-7"  # type: ignore[attr-defined]


def test_missing_credentials_say_what_to_set(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("FNO_CLIENT_SECRET", "FNO_CLIENT_SECRET_FILE", "SAP_BEARER_TOKEN", "SAP_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ValueError, match=r"set FNO_CLIENT_SECRET \(or FNO_CLIENT_SECRET_FILE"):
        FnoSettings(url="https://fno", client_id="c", tenant="t")
    with pytest.raises(ValueError, match=r"--tenant \(FNO_TENANT\) or --token-url"):
        FnoSettings(url="https://fno", client_id="c", client_secret="s")
    with pytest.raises(ValueError, match="SAP_BEARER_TOKEN"):
        SapSettings(api_url="https://sap", user="u")


def test_a_secret_never_shows_its_value(caplog: pytest.LogCaptureFixture) -> None:
    secret = Secret("SAP_PASSWORD", "hunter2")
    logging.getLogger("test").warning("connecting with %s / %r / %s", secret, secret, f"{secret}")
    assert "hunter2" not in caplog.text and "hunter2" not in repr([secret])
    assert secret.reveal() == "hunter2"


@pytest.mark.parametrize("provider", ["bigcommerce", "fno", "flexe", "sap"])
def test_every_connector_explains_itself(provider: str, capsys: pytest.CaptureFixture[str]) -> None:
    module = importlib.import_module(f"connectors.{provider}")
    assert module.main(["--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert f"python -m connectors.{provider}" in out
    assert "OMS_HTTP_TRIES" in out


def test_a_connector_without_its_credentials_refuses_to_start(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from connectors import flexe

    for name in ("FLEXE_API_TOKEN", "FLEXE_API_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    assert flexe.main(["--owner-id", "me"]) == 2
    err = " ".join(capsys.readouterr().err.replace("│", " ").split())
    assert "set FLEXE_API_TOKEN (or FLEXE_API_TOKEN_FILE" in err
    assert "Usage: python -m connectors.flexe" in err
