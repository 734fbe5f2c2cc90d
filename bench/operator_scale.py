"""What N idle objects cost the operator, and whether they slow the loops that are active.

One local cluster and one operator process (as `make run` starts it). In steps, N idle Models
and N Deployments referencing them are created (N = 0, 100, 300, 1,000 by default, each step
adding to the last), then five active iris Models with Deployments are taken to the end of
their test stage. Idle means `--state`:

- `mixed` (the default): every state a cluster has at rest. A tenth of N, at most `--pods`
  (default 40), are real trainings of builtin iris (the API has no imported or pre-trained
  artifact, so a version is published only by training; a tenth, capped, keeps it cheap):
  half stay AwaitingApproval with their test pod, half are approved (through the operator's
  webhook, as `modelship approve`) and Serving with a production pod; the cap is what the
  local node runs beside everything else on two cores. The rest split evenly: suspended
  Models and Deployments, and Models the operator rejects (a regressor for a classification
  task: the API server's schema accepts it) with Deployments waiting for a version of them.
- `suspended`, `waiting`: all N in that one state.

For each N it reports:

- the time from the last object created until every one has `observedGeneration` current;
- the five active loops' apply -> AwaitingApproval time (median), and its ratio to N = 0 (after
  one untimed warm-up round);
- over an idle window (default 120 s, after everything settled): the operator's RSS, its CPU as
  a share of one core, and the API requests per second it made, counted by the API server's
  audit log (requests of the operator's user agent; the benchmark's own use another);
- restart: the operator stopped (SIGTERM) and started again, seconds until its log counts a
  resume for every Model and Deployment and every observedGeneration is current.

    .venv/bin/python bench/operator_scale.py [--sizes 0,100,300,1000] [--idle 120] [--keep DIR]
        [--state mixed|suspended|waiting] [--pods 40] [--no-restart]
        [--operator-src OTHER_CHECKOUT/src] [--heap]

`--heap` runs the operator under `bench/operator_heap.py --no-trace` and writes its allocators'
report at rest (`heap-N.txt`, after the idle window) and after the restart (`heap-restart-N.txt`,
once a trim has run), to tell memory held from memory fragmented.

Seen on the 2-core dev VM (2026-12-02): at N = 1,000, 3.5 s to settle, active loops 1.04x their
N = 0 time, RSS 129 MB, 0.18 % of a core and 0.88 requests/s at idle (0.5 of them the Lease
renewal). The operator before the event-driven rework (`--operator-src` of that checkout) took
591 s to settle 1,000 and then could not finish the five loops in five minutes.

`--state waiting`, N = 500, 60 s idle, 2026-12-06: before the fix that lets a waiting Deployment
wait for its Model's event (`--operator-src` of b528642) 331 requests/s, 53.5 % of a core, RSS
152 MB, active loops 1.61x; after, 0.83 requests/s, 0.28 %, 141 MB, 0.95x.

`--state mixed`, 2026-12-07, on a VM shared with other workers (load average 8 to 43 on two
cores throughout; every figure below is disturbed by it):

| N | settle s | active ratio | RSS MB | idle CPU % | req/s | restart s | load |
|---|---|---|---|---|---|---|---|
| 0 | 0.0 | 1.00 (56.2 s) | 114 | 0.23 | 0.80 | 12.1 | 8.6 22.1 21.4 |
| 1,000 | 304.1 | - (Failed) | 198 | 0.13 | 0.57 | 203.2 | 24.9 24.3 24.3 |

At N = 1,000 the 20 trained Deployments (and then the five active loops of that step) ended
Failed: their serving pods missed their liveness probes on the saturated node (exit 143, the
kubelet's restart), so that run stopped in the active loops; RSS, CPU and requests at idle and
the restart were then measured on the kept cluster with the same functions: a fresh operator
over the 2,030 Models and Deployments, 203 s from its start to all resumed and observed (RSS
198 MB then), and over 120 s idle after 30 s: RSS 198 MB, 0.13 % of a core, 0.57 requests/s
(0.49 of them writes: the Lease). While it settled the 1,000 the long-running operator stood at
255 MB (the metrics fix included; 240 MB without it at the same point of an earlier run, which
was stopped in its trained share for the same liveness failures).
3,000 and 10,000 were not reached before the deadline: creating 1,000 pairs took 74 s and the
operator observed them at about 7 objects a second, which is the API server's pace on this
host, not the operator's: profiled with py-spy (`record -f raw`, 20 s while settling), 53 % of
the operator's samples wait in `SSLSocket.read` for the API server's answers, 32 % are idle
pool workers, the operator itself used 13-15 % of a core, and during the restart its GETs were
answered at ~14 a second by eight threads (~0.57 s each). Goals not shown met: settle <= 60 s,
restart <= 90 s, the 10,000 row. Nor RSS: 198 MB at 1,000 is 84 KB per pair over N = 0's
114 MB, which would exceed 400 MB well before 10,000 if it grew in proportion; what holds it
(a high-water mark of the resume burst's bodies, or per-object state) needs a heap profile
(tracemalloc or memray in the operator), not done. Idle CPU and requests at 1,000 are within
the goals.

`--state mixed --sizes 0,1000 --idle 60`, 2026-12-07 (stop 37), three runs on the same VM at
load 3-17 (the trained share's pods), each code in turn:

| code | settle s | active ratio | RSS MB | idle CPU % | req/s | restart s (RSS) |
|---|---|---|---|---|---|---|
| before (31e6547) | 97.9 | 2.01 | 253 | 1.23 | 4.87 | 38.4 (209) |
| + events deduplicated (de404bc) | 65.4 | 1.54 | 600 | 0.95 | 2.77 | 54.6 (209) |
| + one clock, own webhook threads (51e982e) | 28.5 | 1.41 | 307 | 0.98 | 2.92 | 34.5 (200) |

Requests while the 1,000 settled, before (audit log, operator's agents): 12,392, of which GET
Deployment 2,376 and GET Model 2,373 (a Model's every event reconciled each of its Deployments),
Kopf's own PATCHes 2,989, Events 1,664, status PATCHes 1,623. Idle, the serving share's drift
reads are what is left (40 GET + 40 LIST pods + 40 status PATCH a minute for 20 serving
Deployments: 2.0 of the 2.92 req/s). RSS is the long-running operator's high-water mark after
the burst (the 600 MB run is unexplained: the same code's restart held 209 MB); live objects
are what `bench/operator_heap.py` reports. Kopf kept, for every object of a kind with a daemon
or timer, its latest body (`daemons_memory.live_fresh_body`, set for every object whatever the
`when` filter): Deployments and Models now have neither (`kube/schedule.py`), so no body, no
task and no finalizer per object.

`--sizes 0,3000` with the clock (51e982e), load 1-18: N = 0 settle 0.0 s, loops 27.8 s, RSS
115 MB, 0.48 %, 1.17 req/s, restart 2.0 s; N = 3,000: created in 44 s, settle 110.7 s, loops
31.9 s (1.15x), RSS 662 MB (restart: 353 MB), idle 0.95 % of a core, 2.95 req/s, restart to
all 6,040 observed 163.8 s. Settle and restart both run at ~37 objects a second, the pace of
eight handler threads each waiting on the API server; RSS grows with N (the high-water mark
of the settle, and 353 MB for a fresh operator over the same objects), so 10,000 would not
meet the 400 MB goal as it stands. 10,000 was not run.

Memory, per idle Model + Deployment: the metrics' per-object gauges were prometheus_client
children (~800 bytes each, six for the phase alone): 5.8 KB a pair, 58 MB at 10,000; now a
dict entry per series and one per object for the phase (`metrics/object_gauges.py`): 0.4 KB
(tests/unit/operator/metrics/test_object_gauges.py). Kopf keeps per watched object a
`ResourceMemory` (a shallow copy of the startup memo, throttler, index and daemon records):
~1.3 KB measured with tracemalloc, 26 MB for 20,000 objects; the `deployments_by_model` index
one entry per Deployment; for each Deployment not suspended a daemon (an asyncio task that
sleeps up to an hour, making no API call when nothing is due) holding the latest body Kopf
saw; nothing in memory for suspended objects beyond that. On the objects, Kopf writes the
last-handled-configuration annotation (our prefix) and progress annotations only while a
handler retries. We keep a `threading.Lock` per object key (never pruned), a requeue time and
wake-up event per Deployment daemon, and autoscaling windows only for autoscaled production.

`--state mixed --sizes 0,10000 --idle 60`, 2026-12-07 (stop 39), quiet VM (load 2-11 from the
run itself), after the fixes below; each step also prints the operator's requests by kind:

| N | settle s | loops s (ratio) | RSS MB | idle CPU % | req/s | restart s (RSS) | GETs/s floor |
|---|---|---|---|---|---|---|---|
| 0 | 0.0 | 22.3 (1.00) | 120 | 0.30 | 1.18 | 3.0 (119) | - |
| 10,000 | 258.1 | 30.7 (1.38) | 1,591 | 0.87 | 2.95 | 138.8 (567) | 446 |

10,000 pairs were created in 108 s. While they settled the operator made 107,840 requests,
about five per object: a GET of the object and one of its Model, our status PATCH, Kopf's
annotation PATCH, and an Event. Idle requests are the 20 Serving Deployments' drift reads (2.0/s)
and the Lease (0.5/s); they do not grow with N. The restart made 43,252 requests in 138.8 s,
312/s against the 446 GETs/s the API server gave eight threads of this benchmark in the same
run: the restart runs at 70 % of what this host serves. RSS is the high-water mark of the burst
(1,591 MB); a fresh operator over the same objects holds 567 MB.

Before the fixes, the first 10,000 run: settle 331.2 s. Then a restart over the kept cluster
resumed nothing in three minutes at a full core. Its stack dump (SIGUSR2) showed Kopf's index
wait: with any Kopf index, each object's worker drops a toggle and then waits on one shared
condition, so every drop wakes every waiting worker (N x N). The index is gone
(`operator/deployment/followers.py`). On the same cluster, the same restart then took 198.4 s.

`--state mixed --sizes 0,3000 --idle 60`, 2026-12-07 (stop 40), two runs of each code one after
another on the same VM, nothing else running (a run beside a `--keep` cluster, whose 40 pods
kept serving, was discarded):

| code | settle s | at rest s | loops | RSS MB | idle CPU % | req/s | restart s (RSS) | floor |
|---|---|---|---|---|---|---|---|---|
| before (21ab232) | 78.1 | 265.5 | 1.55 | 909 | 0.90 | 3.00 | 40.4 (263) | 427 |
| before (21ab232) | 74.2 | 223.3 | 1.10 | 949 | 0.85 | 3.05 | 49.5 (249) | 368 |
| after | 119.1 | 168.8 | 1.21 | 251 | 0.68 | 2.97 | 29.5 (270) | 18 |
| after | 111.5 | 165.5 | 1.04 | 259 | 0.92 | 3.33 | 32.6 (232) | 14 |

"At rest" is the time, after the settle and the floor, until the 40 trained objects are
AwaitingApproval or Serving. Two changes: a Model's event handler no longer waits for threads
(`operator/kube/handoff.py`), so Kopf no longer handles a new Model twice (its `patch models`
while settling: 3,442 and 3,557 before, 3,000 and 3,000 after); and malloc's free pages go back
to the system every 30 s (`operator/memory.py`): RSS at rest 909-949 MB before, 251-259 after.
The settle is longer and the floor lower after because the 40 trainings (a pod each, sklearn
on two cores) now start while the 6,000 idle objects settle, not behind them (the settle's
requests after include `get trainingjobs` and `get jobs`, before they do not); everything is
at rest ~60-100 s sooner. Without the trained share (`--pods 0 --idle 30`, one run each,
the same evening): settle 93.5 s before, 69.9 s after (`patch models` 3,635 -> 3,000); active
loops 1.60x -> 1.04x; RSS 380 -> 259 MB; idle 0.60 -> 0.50 requests/s (the Lease alone);
restart 38.7 s (242 MB) -> 28.0 s (196 MB).

`--state mixed --sizes 0,10000 --idle 60`, 2026-12-08 (stop 41), one run after each step, nothing
else running; the idle counts then still included the local cluster's own watches (coredns,
kube-proxy: 4 a minute, now left out); "requests" are the restart's:

| code | settle s | at rest s | loops | RSS MB | idle CPU % | req/s | restart s (RSS) | requests |
|---|---|---|---|---|---|---|---|---|
| stop 39 | 258.1 | 293.1 | 1.38 | 1,591 | 0.87 | 2.95 | 138.8 (567) | 43,252 |
| A | 304.1 | 93.8 | 1.24 | 580 | 0.72 | 1.70 | 97.9 (365) | 26,838 |
| A + PYTHONMALLOC=malloc | 305.6 | - | 1.13 | 636 | 0.72 | 1.10 | 88.6 (447) | 26,607 |
| B | 280.2 | 118.1 | 1.30 | 581 | 0.57 | 1.10 | 73.6 (384) | 16,548 |

A: the Lease renewed every 5 s, not 2; a drift read costs its status write only (the pod
listing kept, the Deployment taken from its last event and written with its resourceVersion);
a suspended object at rest resumes without a reconcile (`list trainingjobs` at the restart
5,091 -> 111); a TrainingJob's event reconciles its Model only when what the Model reads moved.
A's idle window caught the settled safety net of the 55 settled Deployments, all due in the same
second 600 s after they settled (~10 reads each). B adds: that look every 1,800 s, spread
+-10 % by Deployment; and each Deployment reconciled once at a restart (its resume and its
Model's first event came within ~150 ms of each other and both reconciled it). B's idle
window: 42 drift writes, 12 Lease renewals, 5 Kopf patches of finished TrainingJobs (the loops'
tail), 4 watches of the cluster's own components: the operator's own are 62 (1.03/s), 57
(0.95/s) without the tail. PYTHONMALLOC=malloc (glibc for every object) holds more, not less.

`--state mixed --sizes 0,10000 --idle 60 --heap`, 2026-12-08 (stop 42), on a slower VM than
stop 41's (its API server answered the floor's eight threads 39 GETs/s; creating the 10,000 pairs
took 254 s against 108 s), nothing else running; an unchanged drift reading is no longer written:

| N | settle s | at rest s | loops s (ratio) | RSS MB | idle CPU % | req/s | restart s (RSS) | req |
|---|---|---|---|---|---|---|---|---|
| 0 | 0.0 | 0.0 | 46.0 (1.00) | 118 | 0.15 | 0.28 | 4.0 (120) | 176 |
| 10,000 | 773.3 | 146.7 | 60.0 (1.30) | 549 | 0.60 | 0.30 | 213.7 (426) | 16,476 |

Idle at 10,000: 18 requests in 60 s, 12 Lease renewals, 5 Kopf patches of finished TrainingJobs,
one watch; no drift write (stop 41: 42 a minute). The settle made 96,592 requests and the
restart 16,476 (stop 41: 96,053 and 16,548): the same work, at this host's API server's pace.
The allocators (`--heap`), at rest after the settle and after the restart:

| | N = 0 | 10,000 at rest | 10,000 after the restart |
|---|---|---|---|
| pymalloc blocks in use | 44.0 MB | 86.5 MB | 84.8 MB |
| pymalloc arenas (1 MiB each) | 46 | 465 | 340 |
| free blocks in used pools | 2.8 MB | 247.5 MB | 134.3 MB |
| unused pools inside arenas | 0.6 MB | 146.4 MB | 131.0 MB |
| glibc chunks in use | 32.6 MB | 40.1 MB | 36.6 MB |
| VmRSS (VmHWM) | 121 (124) | 562 (643) | 425 (479) |

Live memory grows 50 MB for 20,270 objects, 2.5 KB each, and nearly all of it is Kopf's: a
`ResourceMemory` per object with its `Throttler`, `IndexingMemory`, `DaemonsMemory` and a
shallow copy of the operator's memo (20,270 of each among the collector's objects; ~1.9 KB, and
0.9 KB for the memo's 27 keys, by getsizeof). The RSS above that is pymalloc: the settle's
burst (VmHWM 643 MB) spread those long-lived blocks over 465 arenas, and an arena goes back to
the system only when all of it is free, so 394 of its 488 MB are free space that stays resident.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from modelship.api.v1alpha1 import GROUP, VERSION
from modelship.cli.approve import approval_for
from modelship.devcluster.audit import AuditRecord, read_audit
from modelship.devcluster.cluster import DevCluster
from modelship.devcluster.kubeapi import ApiEndpoint, KubeClient
from modelship.devcluster.ports import free_ports
from modelship.devcluster.webhooks import point_webhooks, remove_webhooks, served_certificate
from modelship.operator.kube.client import Kube, KubeError, load_api_client
from modelship.operator.kube.resources import MODEL_DEPLOYMENTS, MODELS, NAMESPACES

BENCH_AGENT = "modelship-bench"
# The local cluster's own components that sign in with the admin's credentials; their watches
# (a few a minute) are not the operator's requests. Stop 41 found them in the idle counts.
NOT_THE_OPERATOR = (BENCH_AGENT, "coredns/", "kube-proxy/", "kube-scheduler/", "kubectl/")
NAMESPACE_KIND = "namespaces"
HERTZ = os.sysconf("SC_CLK_TCK")
HEAP_TOOL = Path(__file__).resolve().parent / "operator_heap.py"
HEAP_END = "end of the allocators' report"  # operator_heap.END (bench/ is not a package)
# After a restart the allocators' report waits for a trim (operator/memory.py: every 30 s), as
# the report at rest, taken after the idle window, does.
TRIM_WAIT_S = 35.0
WEBHOOKS = Path(__file__).resolve().parent.parent / "manifests" / "webhook" / "webhooks.yaml"


ADMISSION_PORT = free_ports(1)[0]


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def model_body(name: str, suspend: bool, rejected: bool = False) -> dict[str, Any]:
    """An iris Model; `rejected`: its algorithm is a regressor, which a classification Model
    cannot have (the API server's schema accepts it, the operator refuses it: Ready False)."""
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Model",
        "metadata": {"name": name},
        "spec": {
            "suspend": suspend,
            "task": "classification",
            "dataset": {"uri": "builtin:iris"},
            "algorithm": {
                "name": "linear_regression" if rejected else "logistic_regression",
                "params": {} if rejected else {"max_iter": 300},
            },
            "evaluation": {"testFraction": 0.3, "seed": 7},
        },
    }


def deployment_body(name: str, suspend: bool) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "suspend": suspend,
            "modelRef": {"name": name},
            "test": {"replicas": 1, "acceptance": {"minAccuracy": 0.8, "samples": 30}},
            "production": {"replicas": 1},
        },
    }


class OperatorUnderTest:
    """`python -m modelship.operator` against the benchmark's cluster; /proc gives its cost."""

    def __init__(
        self, kubeconfig: Path, log: Path, source: Path | None = None, heap: bool = False
    ) -> None:
        self.kubeconfig, self.source, self.heap = kubeconfig, source, heap
        env = {
            **os.environ,
            # Another checkout's operator (`--operator-src`), e.g. the one before a change.
            **({"PYTHONPATH": str(source)} if source else {}),
            "KUBECONFIG": str(kubeconfig),
            "MODELSHIP_OPERATOR_IMAGE": "modelship:bench",
            "MODELSHIP_OPERATOR_HEALTH_ENDPOINT": "",
            "MODELSHIP_OPERATOR_METRICS_ENDPOINT": "",
            # Its approval webhook on a port of its own (the benchmark points the cluster's
            # webhook configurations at it while it approves: bring_to_rest).
            "MODELSHIP_OPERATOR_ADMISSION_HOST": "127.0.0.1",
            "MODELSHIP_OPERATOR_ADMISSION_PORT": str(ADMISSION_PORT),
            "MODELSHIP_OPERATOR_ADMISSION_GENERATED_DIR": str(log.parent / "admission"),
        }
        self.log = log.open("wb")
        self.heap_out = log.with_suffix(".heap.txt")
        command = [sys.executable, "-m", "modelship.operator"]
        if heap:
            command = [sys.executable, str(HEAP_TOOL), "--no-trace", "--out", str(self.heap_out)]
        self.process = subprocess.Popen(
            command,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / HERTZ  # utime + stime

    def heap_report(self, to: Path, patience: float = 120.0) -> None:
        """The allocators' report (`--heap` only), copied to `to` once written."""
        if not self.heap:
            return
        self.heap_out.unlink(missing_ok=True)
        self.process.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + patience
        while time.monotonic() < deadline:
            text = self.heap_out.read_text() if self.heap_out.exists() else ""
            if text.rstrip().endswith(HEAP_END):
                break
            time.sleep(1.0)
        to.write_text(self.heap_out.read_text() if self.heap_out.exists() else "(no report)\n")
        print(f"[scale] the operator's allocators at this point: {to}", flush=True)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


def wait_until(
    probe: Callable[[], tuple[int, int]], timeout: float, what: str, every: float = 1.0
) -> float:
    """Seconds until `probe()` returns (done, total) with done >= total; progress every 10 s.

    A probe the API server does not answer in time (a LIST of 10,000 objects on a loaded host
    can take longer than the client's timeout) is tried again at the next poll, not fatal."""
    start = last = time.monotonic()
    while True:
        try:
            done, total = probe()
        except KubeError as error:
            if error.status != 0 and error.status < 500:
                raise
            print(f"[scale]   {what}: probe unanswered ({error}); trying again", flush=True)
            done, total = 0, 1
        if done >= total:
            return time.monotonic() - start
        if time.monotonic() - start > timeout:
            raise SystemExit(f"timed out after {timeout:.0f}s waiting for {what} ({done}/{total})")
        if time.monotonic() - last >= 10:
            print(f"[scale]   {what}: {done}/{total}", flush=True)
            last = time.monotonic()
        time.sleep(every)


def observed(kube: Kube, namespace: str, expected: int) -> tuple[int, int]:
    """(objects whose status describes their current generation, how many there should be)."""
    done = 0
    for res in (MODELS, MODEL_DEPLOYMENTS):
        for item in kube.list(res, namespace):
            status = item.get("status") or {}
            if status.get("observedGeneration") == item["metadata"].get("generation"):
                done += 1
    return done, 2 * expected


def poll_seconds(objects: int) -> float:
    """How often to list every object while waiting: a list of 20,000 costs the shared cores
    about a second, so large runs look less often (the settle figure is that coarse)."""
    return max(1.0, objects / 4000)


def ensure_namespace(kube: Kube, name: str) -> None:
    try:
        kube.create(NAMESPACES, None, {"metadata": {"name": name}})
    except KubeError as exc:
        if exc.status != 409:
            raise


@dataclass
class Step:
    n: int
    settle_s: float = 0.0
    rest_s: float = 0.0
    loop_s: float = 0.0
    rss_mb: float = 0.0
    cpu_pct: float = 0.0
    requests_per_s: float = 0.0
    writes_per_s: float = 0.0
    restart_s: float = float("nan")
    restart_rss_mb: float = 0.0
    floor_gets_per_s: float = 0.0
    load: str = ""


# The idle states of `--state mixed`, each a name prefix. `awaiting` and `serving` are real
# trainings and run pods, so their share is capped by `--pods`; the rest split evenly.
SUSPENDED, WAITING, AWAITING, SERVING = "s", "w", "a", "v"
STATES = {"suspended": SUSPENDED, "waiting": WAITING}


def plan(n: int, state: str, pods: int) -> dict[str, int]:
    """How many of the N idle Models (each with its Deployment) are in each idle state."""
    if state != "mixed":
        return {STATES[state]: n}
    # A tenth of N, at most `pods`: half AwaitingApproval (a test pod each), half Serving.
    with_pods = min(pods, n // 10)
    awaiting = with_pods // 2
    serving = with_pods - awaiting
    rest = n - with_pods
    return {SUSPENDED: rest // 2, WAITING: rest - rest // 2, AWAITING: awaiting, SERVING: serving}


def idle_bodies(prefix: str, i: int) -> tuple[dict[str, Any], dict[str, Any]]:
    name = f"{prefix}{i:05d}"
    suspend = prefix == SUSPENDED
    return (
        model_body(name, suspend=suspend, rejected=prefix == WAITING),
        deployment_body(name, suspend=suspend),
    )


def create_all(kube: Kube, namespace: str, bodies: Iterable[tuple[dict[str, Any], ...]]) -> int:
    """Create the bodies (a Model and its Deployment each), eight requests in flight."""

    def create(pair: tuple[dict[str, Any], ...]) -> None:
        kube.create(MODELS, namespace, pair[0])
        kube.create(MODEL_DEPLOYMENTS, namespace, pair[1])

    with ThreadPoolExecutor(8) as pool:
        return sum(1 for _ in pool.map(create, bodies))


def add_idle(kube: Kube, have: dict[str, int], want: dict[str, int], total: int) -> float:
    """Create the idle Models and Deployments `want` has more of than `have`; seconds from the
    last created until all are observed."""
    namespace = "idle"
    bodies = [
        idle_bodies(prefix, i)
        for prefix, count in want.items()
        for i in range(have.get(prefix, 0), count)
    ]
    started = time.monotonic()
    create_all(kube, namespace, bodies)
    print(
        f"[scale]   created {len(bodies)} Models and Deployments in "
        f"{time.monotonic() - started:.0f}s",
        flush=True,
    )
    have.update(want)
    return wait_until(
        lambda: observed(kube, namespace, total),
        1800,
        "idle objects observed",
        poll_seconds(2 * total),
    )


def bring_to_rest(kube: Kube, want: dict[str, int], kubeconfig: Path) -> float:
    """Seconds until the trained share is at rest: `awaiting` Deployments AwaitingApproval,
    `serving` ones approved as `modelship approve` does and Serving. The cluster's approval
    webhooks point at the operator meanwhile (they record the approver; a local process is no
    endpoint of their Service) and are removed after, so a restart refuses no write."""
    namespace = "idle"
    awaiting = {f"{AWAITING}{i:05d}" for i in range(want.get(AWAITING, 0))}
    serving = {f"{SERVING}{i:05d}" for i in range(want.get(SERVING, 0))}
    if not awaiting and not serving:
        return 0.0
    approved: set[str] = set()
    phases: Counter[str] = Counter()

    def at_rest() -> tuple[int, int]:
        done = 0
        phases.clear()
        # Read one by one: a list of 10,000 Deployments is 18 MB every two seconds, enough load
        # to slow the operator it measures (and the API server once cut one short).
        for name in sorted(awaiting | serving):
            item = kube.get(MODEL_DEPLOYMENTS, namespace, name) or {"metadata": {"name": name}}
            status = item.get("status") or {}
            target = "AwaitingApproval" if name in awaiting else "Serving"
            # Failed (a test stage that did not pass, e.g. pods that could not start on a
            # saturated node) is at rest too: counted and reported, not waited out.
            if (name in awaiting or name in serving) and status.get("phase") in (target, "Failed"):
                done += 1
                phases[status["phase"]] += 1
            elif (
                name in serving
                and status.get("phase") == "AwaitingApproval"
                and (name not in approved)
            ):
                patch = {"spec": {"approval": approval_for(status, None)}}
                kube.patch(MODEL_DEPLOYMENTS, namespace, name, patch)
                approved.add(name)
        return done, len(awaiting) + len(serving)

    with KubeClient(ApiEndpoint.from_kubeconfig(kubeconfig)) as client:
        ca = operator_certificate()
        point_webhooks(client, WEBHOOKS, f"https://127.0.0.1:{ADMISSION_PORT}", ca)
        try:
            seconds = wait_until(at_rest, 1800, "trained share at rest", 2.0)
            print(f"[scale]   trained share: {dict(phases)}", flush=True)
            return seconds
        finally:
            remove_webhooks(client, WEBHOOKS)


def operator_certificate(patience: float = 120.0) -> str:
    """The operator's webhook certificate, asked until it answers (said when it was slow: an
    operator that cannot finish a TLS handshake in 5 s is a finding, not a reason to stop)."""
    started = time.monotonic()
    while True:
        try:
            ca = served_certificate("127.0.0.1", ADMISSION_PORT)
        except OSError as exc:
            waited = time.monotonic() - started
            if waited > patience:
                raise
            print(f"[scale]   operator webhook silent for {waited:.0f}s: {exc}", flush=True)
            time.sleep(5)
            continue
        return ca


def run_active(kube: Kube, label: str, count: int) -> float:
    """Median seconds from applying `count` Models + Deployments to the end of their test stage
    (AwaitingApproval; Failed too, counted: on a saturated node test pods can miss their
    liveness probes, and the loop has ended all the same)."""
    namespace = f"active-{label}"
    ensure_namespace(kube, namespace)
    started = time.monotonic()
    for i in range(count):
        kube.create(MODELS, namespace, model_body(f"a{i}", suspend=False))
        kube.create(MODEL_DEPLOYMENTS, namespace, deployment_body(f"a{i}", suspend=False))
    reached: dict[str, float] = {}
    failed: set[str] = set()

    def waiting() -> tuple[int, int]:
        for item in kube.list(MODEL_DEPLOYMENTS, namespace):
            name, phase = item["metadata"]["name"], (item.get("status") or {}).get("phase")
            if name not in reached and phase in ("AwaitingApproval", "Failed"):
                reached[name] = time.monotonic() - started
                if phase == "Failed":
                    failed.add(name)
        return len(reached), count

    wait_until(waiting, 900, "active loops at AwaitingApproval")
    if failed:
        print(f"[scale]   test stage failed: {sorted(failed)}", flush=True)
    return statistics.median(reached.values())


def operator_requests(audit: Path, since: str, until: str) -> list[AuditRecord]:
    """The operator's requests between two instants (the benchmark's and the local cluster's
    own components' are left out), from the audit log and its rotated backup (a 10,000 settle
    writes more than one file holds)."""
    files = sorted(audit.parent.glob(f"{audit.stem}*"), key=lambda f: f.stat().st_mtime)
    return [
        r
        for file in files
        for r in read_audit(file, since)
        if r.at <= until and not r.user_agent.startswith(NOT_THE_OPERATOR)
    ]


def request_kinds(records: list[AuditRecord], what: str, top: int = 6) -> None:
    """Print how many requests of each verb and resource `what` cost."""
    kinds = Counter(
        f"{r.verb} {r.resource}{'/' + r.subresource if r.subresource else ''}" for r in records
    )
    if kinds:
        print(
            f"[scale]   {what}: {len(records)} requests, {dict(kinds.most_common(top))}", flush=True
        )


def measure_idle(op: OperatorUnderTest, audit: Path, seconds: float) -> tuple[float, ...]:
    since = now_rfc3339()
    cpu0, t0 = op.cpu_seconds(), time.monotonic()
    time.sleep(seconds)
    cpu1, t1 = op.cpu_seconds(), time.monotonic()
    records = operator_requests(audit, since, now_rfc3339())
    span = t1 - t0
    writes = sum(1 for r in records if r.is_write)
    request_kinds(records, "idle requests")
    return op.rss_mb(), 100 * (cpu1 - cpu0) / span, len(records) / span, writes / span


# Kopf logs one line per object whose resume handler (model_changed, deployment_changed: each
# reads the object and its children and writes status if anything changed) ran at start; its
# plain log format names no object, so the lines are counted.
RESUMED = re.compile(rb"Resuming is processed: [1-9][0-9]* succeeded")


def objects(kube: Kube, namespaces: Iterable[str]) -> int:
    """How many Models and Deployments the run has."""
    return sum(len(kube.list(res, ns)) for ns in namespaces for res in (MODELS, MODEL_DEPLOYMENTS))


def restart(
    kube: Kube, op: OperatorUnderTest, namespaces: list[str], log: Path
) -> tuple[OperatorUnderTest, float]:
    """Stop the operator (SIGTERM: it hands its Lease back) and start another; seconds from its
    start until its log says every Model and Deployment was resumed and every one's
    observedGeneration is current."""
    expected = objects(kube, namespaces)
    op.stop()
    fresh = OperatorUnderTest(op.kubeconfig, log, op.source, op.heap)
    resumed, offset = 0, 0

    def probe() -> tuple[int, int]:
        nonlocal resumed, offset
        with log.open("rb") as handle:
            handle.seek(offset)
            chunk = handle.read()
        complete = chunk[: chunk.rfind(b"\n") + 1]  # whole lines; the rest is read next time
        offset += len(complete)
        resumed += len(RESUMED.findall(complete))
        if resumed < expected:
            return resumed, expected
        return sum(observed(kube, ns, 0)[0] for ns in namespaces), expected

    return fresh, wait_until(probe, 900, "restarted operator resumed", poll_seconds(expected))


def api_floor(kube: Kube, names: list[str], seconds: float = 10.0, threads: int = 8) -> float:
    """GETs a second the API server answers the benchmark when nothing else asks it: `threads`
    callers (the operator's handler threads) reading idle Models one by one. A resume is at
    least one such GET per object, so this bounds how fast a restart can go on this host."""
    deadline = time.monotonic() + seconds

    def reader(offset: int) -> int:
        done = 0
        while time.monotonic() < deadline:
            kube.get(MODELS, "idle", names[(offset + done * threads) % len(names)])
            done += 1
        return done

    started = time.monotonic()
    with ThreadPoolExecutor(threads) as pool:
        total = sum(pool.map(reader, range(threads)))
    return total / (time.monotonic() - started)


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="0,100,300,1000")
    parser.add_argument("--idle", type=float, default=120.0, help="idle window, seconds")
    parser.add_argument("--active", type=int, default=5)
    parser.add_argument(
        "--state",
        choices=["mixed", "suspended", "waiting"],
        default="mixed",
        help="how the N idle objects are idle",
    )
    parser.add_argument(
        "--pods",
        type=int,
        default=40,
        help="mixed: at most this many of the N are trained and run a pod (half "
        "AwaitingApproval, half Serving), at most a tenth of N",
    )
    parser.add_argument(
        "--no-restart", action="store_true", help="skip the operator restart after each step"
    )
    parser.add_argument(
        "--keep",
        type=Path,
        default=None,
        help="run the cluster in this dir and leave it running afterwards (for the logs and a "
        "second operator); stop it with `modelship dev --dev-dir DIR/dev down`",
    )
    parser.add_argument(
        "--operator-src", type=Path, default=None, help="run the operator from this src/ instead"
    )
    parser.add_argument(
        "--heap",
        action="store_true",
        help="the operator's allocators' report at rest and after the restart (operator_heap.py)",
    )
    args = parser.parse_args()
    # A stopped benchmark still stops its operator (and its cluster unless --keep).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sizes = sorted(int(s) for s in args.sizes.split(","))
    workdir = args.keep or Path(tempfile.mkdtemp(prefix="modelship-scale-"))
    cluster = DevCluster(workdir / "dev")
    print(f"[scale] starting a local cluster in {workdir}", flush=True)
    cluster.up(Path(__file__).resolve().parent.parent / "crds")
    api = load_api_client(str(cluster.kubeconfig))
    api.user_agent = BENCH_AGENT
    kube = Kube(api)
    for namespace in ("idle", "modelship-system"):
        ensure_namespace(kube, namespace)
    op = OperatorUnderTest(
        cluster.kubeconfig, workdir / "operator.log", args.operator_src, args.heap
    )
    print(f"[scale] operator pid {op.process.pid}, log {workdir / 'operator.log'}", flush=True)
    steps: list[Step] = []
    namespaces = ["idle", "active-warmup"]
    try:
        # The first loop of a fresh cluster pays for cold caches (imports, the catalog claim's
        # first volume): one untimed round first, so N = 0 is a fair baseline.
        print("[scale] warm-up: one untimed round of active loops", flush=True)
        run_active(kube, "warmup", args.active)
        have: dict[str, int] = {}
        for n in sizes:
            step = Step(n)
            want = plan(n, args.state, args.pods)
            print(f"[scale] N={n}: {args.state} {want} (had {have})", flush=True)
            since = now_rfc3339()
            step.settle_s = add_idle(kube, have, want, n)
            print(f"[scale] N={n}: all observed after {step.settle_s:.1f}s", flush=True)
            settling = operator_requests(cluster.layout.audit_log, since, now_rfc3339())
            request_kinds(settling, "requests while creating and settling", 10)
            if n:
                names = [f"{prefix}{i:05d}" for prefix, count in want.items() for i in range(count)]
                step.floor_gets_per_s = api_floor(kube, names)
                print(
                    f"[scale] N={n}: the API server answers {step.floor_gets_per_s:.0f} GETs/s "
                    "to eight threads (the restart's floor)",
                    flush=True,
                )
            step.rest_s = bring_to_rest(kube, want, cluster.kubeconfig)
            print(f"[scale] N={n}: at rest after {step.rest_s:.1f}s; active loops", flush=True)
            step.loop_s = run_active(kube, str(n), args.active)
            namespaces.append(f"active-{n}")
            print(
                f"[scale] N={n}: active loops {step.loop_s:.1f}s; idle {args.idle:.0f}s", flush=True
            )
            rss, cpu, rps, wps = measure_idle(op, cluster.layout.audit_log, args.idle)
            step.rss_mb, step.cpu_pct, step.requests_per_s, step.writes_per_s = rss, cpu, rps, wps
            step.load = load_average()
            # Each step as soon as it is measured: a run cut short still reports what it saw.
            print(
                f"[scale] N={n}: RSS {rss:.0f} MB, idle CPU {cpu:.2f}% of a core, "
                f"{rps:.2f} requests/s ({wps:.2f} writes/s), load {step.load}",
                flush=True,
            )
            op.heap_report(workdir / f"heap-{n}.txt")
            if not args.no_restart:
                since = now_rfc3339()
                op, step.restart_s = restart(
                    kube, op, namespaces, workdir / f"operator-restart-{n}.log"
                )
                resuming = operator_requests(cluster.layout.audit_log, since, now_rfc3339())
                request_kinds(resuming, "requests of the restart", 10)
                step.restart_rss_mb = op.rss_mb()
                if args.heap:
                    time.sleep(TRIM_WAIT_S)
                    op.heap_report(workdir / f"heap-restart-{n}.txt")
                print(
                    f"[scale] N={n}: restart to all observed {step.restart_s:.1f}s "
                    f"(RSS then {step.restart_rss_mb:.0f} MB)",
                    flush=True,
                )
            steps.append(step)
    finally:
        op.stop()
        kube.close()
        if args.keep is None:
            cluster.down()
        else:  # its pods keep loading the machine: a later run beside it measures nothing fair
            print(
                f"[scale] the cluster in {workdir} is still running; stop it with "
                f"`modelship dev --dev-dir {workdir / 'dev'} down`",
                flush=True,
            )
    base = steps[0].loop_s if steps and steps[0].loop_s else float("nan")
    print(
        "\n| N | settle s | active loop s | ratio to N=0 | RSS MB | idle CPU % | req/s | "
        "writes/s | restart s | restart RSS MB | GETs/s floor | load |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for s in steps:
        print(
            f"| {s.n} | {s.settle_s:.1f} | {s.loop_s:.1f} | {s.loop_s / base:.2f} | "
            f"{s.rss_mb:.0f} | {s.cpu_pct:.2f} | {s.requests_per_s:.2f} | {s.writes_per_s:.2f} | "
            f"{s.restart_s:.1f} | {s.restart_rss_mb:.0f} | {s.floor_gets_per_s:.0f} | {s.load} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
