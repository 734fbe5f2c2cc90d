"""One container of a pod: its process, probes, restarts and kubelet-style status.

`ContainerRuntime.supervise` is the container's life: build the launch plan (environment and
mounts; a missing ConfigMap waits and retries), run the process, probe it, record how it ended
(exit code, reason, termination message) and restart it as the pod's restartPolicy says, with
crash-loop back-off.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import httpx

from modelship.devcluster.kubeapi import ApiError
from modelship.devcluster.node import pidfiles
from modelship.devcluster.node.backoff import BACKOFF_RESET_SECONDS, backoff_seconds, should_restart
from modelship.devcluster.node.logfiles import container_log
from modelship.devcluster.node.plan import LaunchPlan, launcher_argv
from modelship.devcluster.node.probes import ProbeState, check
from modelship.devcluster.node.spec import ConfigError
from modelship.devcluster.processes import ProcessRecord, process_start_time

JSON = dict[str, Any]
MESSAGE_LIMIT = 4096  # what a kubelet keeps of a termination message
FALLBACK_LOG_LINES = 80
FALLBACK_LOG_BYTES = 2048


class PodContext(Protocol):
    """What a container needs from its pod."""

    name: str
    pod_ip: str
    pod_dir: Path
    log_dir: Path
    python: str
    backoff_base: float
    backoff_cap: float
    termination_grace: float

    async def build_plan(self, container: Mapping[str, Any], error_file: Path) -> LaunchPlan: ...

    def changed(self) -> None: ...

    def event(self, reason: str, message: str, warning: bool = False) -> None: ...


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


async def wait_event(event: asyncio.Event, seconds: float) -> bool:
    """Wait for event or timeout; True when the event is set."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), seconds)
    return event.is_set()


class ContainerRuntime:
    def __init__(self, spec: Mapping[str, Any], pod: PodContext, stopping: asyncio.Event) -> None:
        self.spec = spec
        self.name = str(spec["name"])
        self._pod = pod
        self._stopping = stopping
        self._dir = pod.pod_dir / "containers" / self.name
        self.state: JSON = {"waiting": {"reason": "ContainerCreating"}}
        self.last_state: JSON = {}
        self.restart_count = 0
        self.ready = False
        self.started = False
        self.container_id: str | None = None
        self.proc: asyncio.subprocess.Process | None = None
        self.will_restart = True
        self._backoff_step = 0

    # -- status ---------------------------------------------------------------------------

    @property
    def exit_code(self) -> int | None:
        terminated = self.state.get("terminated")
        return int(terminated["exitCode"]) if terminated else None

    def status(self) -> JSON:
        status: JSON = {
            "name": self.name,
            "image": self.spec.get("image", ""),
            "imageID": f"modelship-local://{self.spec.get('image', '')}",
            "ready": self.ready,
            "started": self.started,
            "restartCount": self.restart_count,
            "state": self.state,
            "lastState": self.last_state,
        }
        if self.container_id:
            status["containerID"] = self.container_id
        return status

    def set_waiting(self, reason: str, message: str | None = None) -> None:
        waiting = {"reason": reason, **({"message": message} if message else {})}
        self.state, self.ready = {"waiting": waiting}, False
        self._pod.changed()

    # -- life -----------------------------------------------------------------------------

    async def supervise(self, policy: str) -> int | None:
        """Run until the container is done for good (or the pod stops); the last exit code."""
        while not self._stopping.is_set():
            try:
                plan = await self._pod.build_plan(self.spec, self._dir / "start-error")
            except ConfigError as error:
                self._pod.event("Failed", f"Error: {error}", warning=True)
                self.set_waiting(error.reason, str(error))
                await wait_event(self._stopping, 2.0)
                continue
            except (ApiError, httpx.HTTPError) as error:
                # The API server is briefly unavailable: not the pod's fault, try again.
                self.set_waiting("ContainerCreating", f"waiting for the API server: {error}")
                await wait_event(self._stopping, 2.0)
                continue
            started = time.monotonic()
            code = await self.run_once(plan)
            if self._stopping.is_set() or not should_restart(policy, code):
                self.will_restart = False
                self._pod.changed()
                return code
            if time.monotonic() - started > BACKOFF_RESET_SECONDS:
                self._backoff_step = 0
            delay = backoff_seconds(
                self._backoff_step, self._pod.backoff_base, self._pod.backoff_cap
            )
            self._backoff_step += 1
            self.last_state = {"terminated": self.state["terminated"]}
            if delay > 0:
                self.set_waiting(
                    "CrashLoopBackOff",
                    f"back-off {delay:.0f}s restarting failed container={self.name} "
                    f"pod={self._pod.name}",
                )
                self._pod.event(
                    "BackOff", f"Back-off restarting failed container {self.name}", True
                )
                if await wait_event(self._stopping, delay):
                    break
            self.restart_count += 1
        self.will_restart = False
        return self.exit_code

    async def run_once(self, plan: LaunchPlan) -> int:
        """Start the process, probe it while it runs, and record how it ended."""
        error_file, message_file, plan_path, log = self._prepare_files(plan)
        with log.open("ab") as out:
            self.proc = await asyncio.create_subprocess_exec(
                *launcher_argv(self._pod.python, plan_path),
                stdin=asyncio.subprocess.DEVNULL, stdout=out, stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        pid = self.proc.pid
        record = ProcessRecord(
            self.name, pid, process_start_time(pid) or 0, tuple(plan.argv), str(log)
        )
        pidfiles.write_pid_file(self._pod.pod_dir, self.name, record)
        self.container_id = f"modelship-local://{pid}"
        self._pod.event("Started", f"Started container {self.name}")
        self.state = {"running": {"startedAt": now()}}
        self.started = "startupProbe" not in self.spec
        self.ready = self.started and "readinessProbe" not in self.spec
        self._pod.changed()
        probes = asyncio.create_task(self._probe_all(plan))
        returncode = await self.proc.wait()
        # As in a container, the rest of the process group ends with the main process.
        _signal_group(pid, signal.SIGKILL)
        probes.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await probes
        pidfiles.remove_pid_file(self._pod.pod_dir, self.name)
        code = returncode if returncode >= 0 else 128 - returncode
        self.state = {"terminated": self._terminated(code, error_file, message_file, log)}
        self.ready, self.started, self.proc = False, False, None
        self._pod.changed()
        return code

    def _prepare_files(self, plan: LaunchPlan) -> tuple[Path, Path, Path, Path]:
        """Fresh per-run files: no stale start error or termination message survives a restart."""
        self._dir.mkdir(parents=True, exist_ok=True)
        error_file = Path(plan.error_file)
        error_file.unlink(missing_ok=True)
        message_file = self._dir / "termination-log"
        message_file.write_bytes(b"")
        plan_path = self._dir / "plan.json"
        plan.write(plan_path)
        log = container_log(self._pod.log_dir, self.name, self.restart_count)
        log.parent.mkdir(parents=True, exist_ok=True)
        return error_file, message_file, plan_path, log

    def _terminated(self, code: int, error_file: Path, message_file: Path, log: Path) -> JSON:
        started = self.state.get("running", {}).get("startedAt", now())
        terminated: JSON = {"exitCode": code, "startedAt": started, "finishedAt": now(),
                            "containerID": self.container_id}  # fmt: skip
        if error_file.exists() and error_file.stat().st_size:
            terminated["reason"] = "StartError"
            terminated["message"] = error_file.read_text(errors="replace")[:MESSAGE_LIMIT]
            return terminated
        terminated["reason"] = "Completed" if code == 0 else "Error"
        message = message_file.read_bytes()[:MESSAGE_LIMIT].decode(errors="replace")
        policy = self.spec.get("terminationMessagePolicy", "File")
        if not message and code != 0 and policy == "FallbackToLogsOnError":
            message = _log_tail(log)
        if message:
            terminated["message"] = message
        return terminated

    async def stop(self, grace: float) -> None:
        """SIGTERM the process group, wait up to grace seconds, then SIGKILL."""
        proc = self.proc
        if proc is None or proc.returncode is not None:
            return
        _signal_group(proc.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(asyncio.shield(proc.wait()), grace)
        except TimeoutError:
            _signal_group(proc.pid, signal.SIGKILL)
            await proc.wait()

    # -- probes ---------------------------------------------------------------------------

    async def _probe_all(self, plan: LaunchPlan) -> None:
        if "startupProbe" in self.spec:
            if not await self._probe("startupProbe", plan):
                return
            self.started = True
            self.ready = "readinessProbe" not in self.spec
            self._pod.changed()
        loops = [self._probe(kind, plan) for kind in ("readinessProbe", "livenessProbe")
                 if kind in self.spec]  # fmt: skip
        await asyncio.gather(*loops)

    async def _probe(self, kind: str, plan: LaunchPlan) -> bool:
        state = ProbeState(self.spec[kind])
        await asyncio.sleep(state.initial_delay)
        run_exec = self._exec_runner(plan, kind)
        while True:
            ok = await check(state.spec, self.spec, self._pod.pod_ip, run_exec)
            verdict = state.record(ok)
            if not ok:
                what = kind.removesuffix("Probe").capitalize()
                self._pod.event("Unhealthy", f"{what} probe failed", warning=True)
            if kind == "readinessProbe" and verdict is not None and verdict != self.ready:
                self.ready = verdict
                self._pod.changed()
            elif kind == "startupProbe" and verdict is True:
                return True
            elif kind in ("livenessProbe", "startupProbe") and verdict is False:
                # A failed liveness (or startup) probe kills the container; restartPolicy decides.
                self._pod.event(
                    "Killing", f"Container {self.name} failed {kind}, will be restarted"
                )
                await self.stop(self._pod.termination_grace)
                return False
            await asyncio.sleep(state.period)

    def _exec_runner(
        self, plan: LaunchPlan, kind: str
    ) -> Callable[[Sequence[str], float], Awaitable[int]]:
        async def run(command: Sequence[str], seconds: float) -> int:
            error_file = self._dir / f"{kind}-error"
            probe_plan = plan.with_argv(list(command), str(error_file))
            plan_path = self._dir / f"{kind}-plan.json"
            probe_plan.write(plan_path)
            proc = await asyncio.create_subprocess_exec(
                *launcher_argv(self._pod.python, plan_path),
                stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL, start_new_session=True,
            )  # fmt: skip
            try:
                return await asyncio.wait_for(proc.wait(), seconds)
            except TimeoutError:
                _signal_group(proc.pid, signal.SIGKILL)
                await proc.wait()
                return -1

        return run


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def _log_tail(log: Path) -> str:
    try:
        lines = log.read_bytes().splitlines()[-FALLBACK_LOG_LINES:]
    except OSError:
        return ""
    return b"\n".join(lines)[-FALLBACK_LOG_BYTES:].decode(errors="replace")
