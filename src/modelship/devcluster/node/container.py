"""One container of a pod: its process, restarts and kubelet-style status.

`ContainerRuntime.supervise` is the container's life: build the launch plan (environment and
mounts; a missing ConfigMap waits and retries), run the process, probe it (prober.py), record how
it ended (termination.py: exit code, reason, termination message) and restart it as the pod's
restartPolicy says, with crash-loop back-off.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import Mapping
from typing import Any

import httpx

from modelship.devcluster.kubeapi import ApiError
from modelship.devcluster.node import pidfiles
from modelship.devcluster.node.backoff import BACKOFF_RESET_SECONDS, backoff_seconds, should_restart
from modelship.devcluster.node.context import PodContext, now, wait_event
from modelship.devcluster.node.logfiles import container_log
from modelship.devcluster.node.plan import LaunchPlan, launcher_argv
from modelship.devcluster.node.prober import exec_runner, probe_all
from modelship.devcluster.node.spec import ConfigError
from modelship.devcluster.node.termination import (
    prepare_run_files,
    signal_group,
    terminated_state,
)
from modelship.devcluster.processes import ProcessRecord, process_start_time

JSON = dict[str, Any]


class ContainerRuntime:
    def __init__(self, spec: Mapping[str, Any], pod: PodContext, stopping: asyncio.Event) -> None:
        self.spec = spec
        self.name = str(spec["name"])
        self.pod = pod
        self._stopping = stopping
        self.directory = pod.pod_dir / "containers" / self.name
        self.state: JSON = {"waiting": {"reason": "ContainerCreating"}}
        self.last_state: JSON = {}
        self.restart_count = 0
        self.ready = False
        self.started = False
        self.container_id: str | None = None
        self.proc: asyncio.subprocess.Process | None = None
        self._plan: LaunchPlan | None = None
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
        self.pod.changed()

    # -- life -----------------------------------------------------------------------------

    async def supervise(self, policy: str) -> int | None:
        """Run until the container is done for good (or the pod stops); the last exit code."""
        while not self._stopping.is_set():
            try:
                plan = await self.pod.build_plan(self.spec, self.directory / "start-error")
            except ConfigError as error:
                self.pod.event("Failed", f"Error: {error}", warning=True)
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
                self.pod.changed()
                return code
            if time.monotonic() - started > BACKOFF_RESET_SECONDS:
                self._backoff_step = 0
            delay = backoff_seconds(self._backoff_step, self.pod.backoff_base, self.pod.backoff_cap)
            self._backoff_step += 1
            self.last_state = {"terminated": self.state["terminated"]}
            if delay > 0:
                self.set_waiting(
                    "CrashLoopBackOff",
                    f"back-off {delay:.0f}s restarting failed container={self.name} "
                    f"pod={self.pod.name}",
                )
                self.pod.event("BackOff", f"Back-off restarting failed container {self.name}", True)
                if await wait_event(self._stopping, delay):
                    break
            self.restart_count += 1
        self.will_restart = False
        return self.exit_code

    async def run_once(self, plan: LaunchPlan) -> int:
        """Start the process, probe it while it runs, and record how it ended."""
        log = container_log(self.pod.log_dir, self.name, self.restart_count)
        files = prepare_run_files(self.directory, plan, log)
        self._plan = plan
        with log.open("ab") as out:
            self.proc = await asyncio.create_subprocess_exec(
                *launcher_argv(self.pod.python, files.plan_path),
                stdin=asyncio.subprocess.DEVNULL, stdout=out, stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        pid = self.proc.pid
        record = ProcessRecord(
            self.name, pid, process_start_time(pid) or 0, tuple(plan.argv), str(log)
        )
        pidfiles.write_pid_file(self.pod.pod_dir, self.name, record)
        self.container_id = f"modelship-local://{pid}"
        self.pod.event("Started", f"Started container {self.name}")
        started_at = now()
        self.state = {"running": {"startedAt": started_at}}
        self.started = "startupProbe" not in self.spec
        self.ready = self.started and "readinessProbe" not in self.spec
        self.pod.changed()
        probes = asyncio.create_task(probe_all(self, plan))
        returncode = await self.proc.wait()
        # As in a container, the rest of the process group ends with the main process.
        signal_group(pid, signal.SIGKILL)
        probes.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await probes
        pidfiles.remove_pid_file(self.pod.pod_dir, self.name)
        code = returncode if returncode >= 0 else 128 - returncode
        self.state = {"terminated": terminated_state(
            self.spec, code, started_at, now(), self.container_id, files
        )}  # fmt: skip
        self.ready, self.started, self.proc = False, False, None
        self.pod.changed()
        return code

    async def stop(self, grace: float) -> None:
        """Run the preStop hook, SIGTERM the process group, wait out the grace, then SIGKILL.

        As a kubelet does, the hook's time counts against the grace period, and SIGTERM gets at
        least 2 more seconds when the hook used it all.
        """
        proc = self.proc
        if proc is None or proc.returncode is not None:
            return
        started = time.monotonic()
        await self._pre_stop(grace)
        if proc.returncode is not None:
            return
        signal_group(proc.pid, signal.SIGTERM)
        remaining = max(grace - (time.monotonic() - started), min(grace, 2.0))
        try:
            await asyncio.wait_for(asyncio.shield(proc.wait()), remaining)
        except TimeoutError:
            signal_group(proc.pid, signal.SIGKILL)
            await proc.wait()

    async def _pre_stop(self, grace: float) -> None:
        """`lifecycle.preStop.exec`, run in the container's environment and mounts like an exec
        probe; a failure is an event, and the container is stopped all the same."""
        hook = (self.spec.get("lifecycle") or {}).get("preStop") or {}
        command = (hook.get("exec") or {}).get("command")
        if not command or self._plan is None or grace <= 0:
            return
        code = await exec_runner(self, self._plan, "preStop")(list(command), grace)
        if code != 0:
            self.pod.event("FailedPreStopHook", f"PreStopHook failed: exit code {code}", True)
