"""Every handler thread has a connection of its own to the API server.

The Kubernetes client keeps five connections per CPU; with more threads than that, urllib3 opens
a new TLS connection for each request beyond them and drops it after ("Connection pool is full"),
which at a restart over thousands of objects is a handshake per object.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import kopf
import pytest
import yaml
from prometheus_client import CollectorRegistry
from pydantic import ValidationError

from modelship.operator import startup
from modelship.operator.kube.client import load_api_client
from modelship.operator.metrics import OperatorMetrics
from modelship.operator.settings import OperatorSettings
from support.fake_kube import FakeKube


@pytest.fixture
def kubeconfig(tmp_path: Path) -> Path:
    path = tmp_path / "kubeconfig"
    cluster = {"server": "https://127.0.0.1:1", "insecure-skip-tls-verify": True}
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": cluster}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "x",
            }
        )
    )
    return path


def pool_size(api: Any) -> int:
    return int(api.rest_client.pool_manager.connection_pool_kw["maxsize"])


def test_the_pool_holds_as_many_connections_as_asked(kubeconfig: Path) -> None:
    api = load_api_client(str(kubeconfig), connections=40)
    assert api.configuration.connection_pool_maxsize == 40
    assert pool_size(api) == 40
    assert api.configuration.host == "https://127.0.0.1:1"


def test_without_a_number_the_client_keeps_its_default(kubeconfig: Path) -> None:
    default = load_api_client(str(kubeconfig))
    assert pool_size(default) == default.configuration.connection_pool_maxsize > 0


def test_startup_gives_kopf_the_threads_and_the_client_their_connections(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    asked: list[int | None] = []

    def load(connections: int | None = None) -> None:
        asked.append(connections)

    monkeypatch.setenv("MODELSHIP_OPERATOR_HANDLER_THREADS", "24")
    monkeypatch.setattr(startup, "load_api_client", load)
    monkeypatch.setattr(startup, "Kube", lambda _: FakeKube())
    settings = kopf.OperatorSettings()
    memo = kopf.Memo(metrics=OperatorMetrics(CollectorRegistry(), lambda: True))
    startup.configure(settings=settings, memo=memo, logger=logging.getLogger("t"))
    startup.close(memo=memo)
    assert settings.execution.max_workers == 24
    assert asked == [24 + startup.CLOCK_CALLERS]


def test_a_thread_count_below_one_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELSHIP_OPERATOR_HANDLER_THREADS", "0")
    with pytest.raises(ValidationError, match="handler_threads"):
        OperatorSettings()
