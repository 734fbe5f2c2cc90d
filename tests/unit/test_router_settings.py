"""The router's settings and API credentials, as a pod gives them."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelship.contracts.routing import ROUTER_PORT, RouterEnv
from modelship.router.__main__ import main
from modelship.router.kubeapi import ApiConnection
from modelship.router.settings import RouterSettings

ENV = RouterEnv(
    namespace="ml", deployment="iris", model_name="iris", routing_config_map="iris-routing"
)


def test_settings_read_exactly_what_the_operator_writes(monkeypatch: pytest.MonkeyPatch) -> None:
    for entry in ENV.to_env():
        monkeypatch.setenv(entry["name"], entry["value"])
    monkeypatch.setenv("MODELSHIP_BIND_HOST", "127.0.0.7")
    monkeypatch.setenv("MODELSHIP_ROUTER_SHADOW_QUEUE_SIZE", "8")
    settings = RouterSettings()
    assert RouterEnv.model_validate(settings.model_dump(include=set(RouterEnv.model_fields))) == ENV
    assert settings.port == ROUTER_PORT
    assert settings.listen_host == "127.0.0.7"
    assert settings.shadow_queue_size == 8


def test_main_refuses_missing_settings_and_a_missing_api(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("MODELSHIP_ROUTER_NAMESPACE", raising=False)
    assert main() == 2
    assert "invalid MODELSHIP_ROUTER_* settings" in capsys.readouterr().err
    for entry in ENV.to_env():
        monkeypatch.setenv(entry["name"], entry["value"])
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    assert main() == 2
    assert "KUBERNETES_SERVICE_HOST" in capsys.readouterr().err


def test_in_cluster_credentials_are_read_from_the_pod(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("first\n")
    connection = ApiConnection.in_cluster(
        {"KUBERNETES_SERVICE_HOST": "fd00::1", "KUBERNETES_SERVICE_PORT": "443"}, tmp_path
    )
    assert connection.server == "https://[fd00::1]:443"
    assert connection.ca_file == str(tmp_path / "ca.crt")
    assert connection.headers() == {"Authorization": "Bearer first"}
    (tmp_path / "token").write_text("rotated\n")  # the kubelet rotates projected tokens
    assert connection.headers() == {"Authorization": "Bearer rotated"}
