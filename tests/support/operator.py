"""Run the operator as a real process against the test cluster, as `make run` does."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from modelship.devcluster.ports import free_ports
from modelship.operator.__main__ import STACKS_SIGNAL
from support.waiting import wait_for
from support.webhook import remove_webhook_configurations, serve_webhooks_from


def free_port() -> int:
    (port,) = free_ports(1)
    return port


class OperatorProcess:
    """`python -m modelship.operator` with test-friendly settings; start, kill -9, restart."""

    def __init__(self, kubeconfig: Path, log_dir: Path, **settings: str) -> None:
        self.kubeconfig = kubeconfig
        self.log_dir = log_dir
        self.settings = settings
        self.process: subprocess.Popen[bytes] | None = None
        # Health, its approval webhook (tests/support/webhook.py), metrics: distinct ports, all
        # held while picked (picked one by one, the health endpoint once got the webhook's port
        # and the operator never became healthy).
        self.port, self.admission_port, self.metrics_port = free_ports(3)
        self.starts = 0

    def start(self) -> None:
        env = {
            **os.environ,
            "KUBECONFIG": str(self.kubeconfig),
            "MODELSHIP_OPERATOR_IMAGE": "modelship:dev",
            "MODELSHIP_OPERATOR_HEALTH_ENDPOINT": f"http://127.0.0.1:{self.port}/healthz",
            "MODELSHIP_OPERATOR_ADMISSION_HOST": "127.0.0.1",
            "MODELSHIP_OPERATOR_ADMISSION_PORT": str(self.admission_port),
            "MODELSHIP_OPERATOR_ADMISSION_GENERATED_DIR": str(self.log_dir / "admission"),
            "MODELSHIP_OPERATOR_METRICS_ENDPOINT": f"http://127.0.0.1:{self.metrics_port}/metrics",
            "MODELSHIP_OPERATOR_RETRY_BACKOFF_SECONDS": "2",
            "MODELSHIP_OPERATOR_RESYNC_SECONDS": "2",
            # A killed operator's Lease expires in 4 s instead of 15, so restarts stay quick.
            "MODELSHIP_OPERATOR_LEASE_DURATION_SECONDS": "4",
            "MODELSHIP_OPERATOR_LEASE_RENEW_DEADLINE_SECONDS": "3",
            "MODELSHIP_OPERATOR_LEASE_RETRY_PERIOD_SECONDS": "1",
            **{f"MODELSHIP_OPERATOR_{k.upper()}": v for k, v in self.settings.items()},
        }
        self.starts += 1
        log = (self.log_dir / f"operator-{self.starts}.log").open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "modelship.operator"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_for(
            self._healthy, timeout=60, what="the operator's health endpoint", describe=self.tail
        )

    def serve_webhooks(self, admin_kubeconfig: Path | None = None) -> None:
        """Make this operator the approval webhook of the cluster (until the test removes it),
        with the admin's credentials when the operator runs under an account of its own."""
        serve_webhooks_from(admin_kubeconfig or self.kubeconfig, "127.0.0.1", self.admission_port)

    def _healthy(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise AssertionError(f"operator exited {self.process.returncode}: {self.tail()}")
        try:
            return httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def metrics(self) -> str:
        """The operator's /metrics page, as Prometheus scrapes it."""
        response = httpx.get(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5)
        response.raise_for_status()
        return response.text

    def kill(self) -> None:
        """SIGKILL: no cleanup handlers, as a crash or an OOM kill would leave things."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=30)

    def tail(self, lines: int = 40) -> str:
        """The log's last lines, for a failure's message. A running operator is asked for every
        thread's stack too (its stacks signal), which ends up in the log after these lines."""
        log = self.log_dir / f"operator-{self.starts}.log"
        text = log.read_text(errors="replace") if log.exists() else ""
        last = "\n".join(text.splitlines()[-lines:])
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, STACKS_SIGNAL)
            last += f"\n(every thread's stack is being written to {log})"
        return last


def running_operator(
    cluster_kubeconfig: Path, tmp_path_factory: pytest.TempPathFactory, **settings: str
) -> Iterator[OperatorProcess]:
    """Start the operator with `settings` (MODELSHIP_OPERATOR_*), its approval webhook
    configured, for a module fixture to yield; stop both afterwards."""
    process = OperatorProcess(cluster_kubeconfig, tmp_path_factory.mktemp("operator"), **settings)
    process.start()
    process.serve_webhooks()  # approvals go through its webhook, as in a deployed operator
    yield process
    remove_webhook_configurations(cluster_kubeconfig)
    process.stop()
