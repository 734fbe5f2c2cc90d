"""The probes of one running container, run as a kubelet runs them: the startup probe first, then
readiness and liveness side by side. A failed liveness (or startup) probe stops the container and
leaves the restart to its pod's restartPolicy."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from modelship.devcluster.node.context import PodContext
from modelship.devcluster.node.plan import LaunchPlan, launcher_argv
from modelship.devcluster.node.probes import ProbeState, check
from modelship.devcluster.node.termination import signal_group


class ProbedContainer(Protocol):
    """The container as its probes see it: they set `started` and `ready`, and may stop it."""

    spec: Mapping[str, Any]
    name: str
    directory: Path
    pod: PodContext
    ready: bool
    started: bool

    async def stop(self, grace: float) -> None: ...


async def probe_all(container: ProbedContainer, plan: LaunchPlan) -> None:
    if "startupProbe" in container.spec:
        if not await _probe(container, "startupProbe", plan):
            return
        container.started = True
        container.ready = "readinessProbe" not in container.spec
        container.pod.changed()
    loops = [_probe(container, kind, plan) for kind in ("readinessProbe", "livenessProbe")
             if kind in container.spec]  # fmt: skip
    await asyncio.gather(*loops)


async def _probe(container: ProbedContainer, kind: str, plan: LaunchPlan) -> bool:
    pod = container.pod
    state = ProbeState(container.spec[kind])
    await asyncio.sleep(state.initial_delay)
    run_exec = exec_runner(container, plan, kind)
    while True:
        ok = await check(state.spec, container.spec, pod.pod_ip, run_exec)
        verdict = state.record(ok)
        if not ok:
            what = kind.removesuffix("Probe").capitalize()
            pod.event("Unhealthy", f"{what} probe failed", warning=True)
        if kind == "readinessProbe" and verdict is not None and verdict != container.ready:
            container.ready = verdict
            pod.changed()
        elif kind == "startupProbe" and verdict is True:
            return True
        elif kind in ("livenessProbe", "startupProbe") and verdict is False:
            # A failed liveness (or startup) probe kills the container; restartPolicy decides.
            pod.event("Killing", f"Container {container.name} failed {kind}, will be restarted")
            await container.stop(pod.termination_grace)
            return False
        await asyncio.sleep(state.period)


def exec_runner(
    container: ProbedContainer, plan: LaunchPlan, kind: str
) -> Callable[[Sequence[str], float], Awaitable[int]]:
    async def run(command: Sequence[str], seconds: float) -> int:
        error_file = container.directory / f"{kind}-error"
        probe_plan = plan.with_argv(list(command), str(error_file))
        plan_path = container.directory / f"{kind}-plan.json"
        probe_plan.write(plan_path)
        proc = await asyncio.create_subprocess_exec(
            *launcher_argv(container.pod.python, plan_path),
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        try:
            return await asyncio.wait_for(proc.wait(), seconds)
        except TimeoutError:
            signal_group(proc.pid, signal.SIGKILL)
            await proc.wait()
            return -1

    return run
