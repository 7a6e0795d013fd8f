"""Settings: defaults, then the environment, then flags; secrets from NAME or NAME_FILE, never shown."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from streams.shell.settings import (
    ApiSettings,
    LogLevel,
    Settings,
    SettingsFileError,
    WriterSettings,
    env_names,
)


def test_the_environment_overrides_the_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:19092")
    monkeypatch.setenv("OMS_TOPIC_PREFIX", "t1.")
    monkeypatch.setenv("OMS_BATCH_SIZE", "50")
    settings = WriterSettings()
    assert (settings.bootstrap_servers, settings.topic_prefix, settings.batch_size) == (
        "127.0.0.1:19092",
        "t1.",
        50,
    )


def test_flags_override_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:19092")
    monkeypatch.setenv("OMS_LOG_LEVEL", "DEBUG")
    settings = WriterSettings(bootstrap_servers="127.0.0.1:29092", log_level=LogLevel.WARNING)
    assert settings.bootstrap_servers == "127.0.0.1:29092"
    assert settings.log_level is LogLevel.WARNING


def test_from_env_keeps_working_for_older_callers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMS_PARTITIONS", "3")
    assert Settings.from_env(topic_prefix="x.").partitions == 3


def test_a_secret_file_wins_over_the_variable_and_never_shows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "token"
    path.write_text("from-the-file\n")
    monkeypatch.setenv("OMS_API_TOKEN", "from-the-env")
    monkeypatch.setenv("OMS_API_TOKEN_FILE", str(path))
    settings = ApiSettings()
    assert settings.api_token is not None
    assert settings.api_token.get_secret_value() == "from-the-file"
    assert "from-the-file" not in repr(settings) and "from-the-file" not in str(settings.model_dump())
    assert settings.secrets() == ["from-the-file"]


def test_a_secret_from_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMS_API_TOKEN", "s3cret-value")
    token = ApiSettings().api_token
    assert token is not None and token.get_secret_value() == "s3cret-value"


def test_an_unreadable_secret_file_names_its_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OMS_API_TOKEN_FILE", str(tmp_path / "missing"))
    with pytest.raises(SettingsFileError, match="OMS_API_TOKEN_FILE names"):
        ApiSettings()


@pytest.mark.parametrize(("field", "value"), [("port", 99999), ("partitions", 0), ("name", "../x")])
def test_out_of_range_values_are_refused(field: str, value: object) -> None:
    with pytest.raises(ValidationError, match=field):
        ApiSettings(**{field: value})


def test_each_field_names_its_variable() -> None:
    assert env_names(Settings, "bootstrap_servers") == ["KAFKA_BOOTSTRAP_SERVERS"]
    assert env_names(Settings, "topic_prefix") == ["OMS_TOPIC_PREFIX"]
    assert env_names(ApiSettings, "port") == ["OMS_API_PORT"]
