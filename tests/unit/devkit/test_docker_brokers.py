"""Where the integration tier gets its broker: OMS_TEST_BROKER, else Docker if it answers."""

from __future__ import annotations

import pytest

from devkit import docker_brokers
from devkit.docker_brokers import use_docker


@pytest.mark.parametrize(("asked", "docker"), [("docker", True), ("DOCKER", True), ("local", False)])
def test_the_variable_decides_when_set(monkeypatch: pytest.MonkeyPatch, asked: str, docker: bool) -> None:
    monkeypatch.setenv("OMS_TEST_BROKER", asked)
    monkeypatch.setattr(docker_brokers, "docker_answers", lambda timeout=3.0: not docker)
    assert use_docker() is docker


@pytest.mark.parametrize("answers", [True, False])
def test_auto_uses_docker_when_an_engine_answers(monkeypatch: pytest.MonkeyPatch, answers: bool) -> None:
    monkeypatch.delenv("OMS_TEST_BROKER", raising=False)
    monkeypatch.setattr(docker_brokers, "docker_answers", lambda timeout=3.0: answers)
    assert use_docker() is answers


def test_an_unknown_choice_is_an_error_naming_the_choices(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMS_TEST_BROKER", "podman")
    with pytest.raises(ValueError, match="podman"):
        use_docker()
