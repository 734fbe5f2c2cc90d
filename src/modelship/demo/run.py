"""The demo's steps: cluster, operator, Model, training, test stage, approval, production, predict.

It exits 0 only when every step really happened on the cluster; each wait has a deadline and a
failure names the stage and what the cluster showed at that moment.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from modelship.demo.client_pod import predict_from_pod
from modelship.demo.cluster import start_cluster, start_operator, stop_demo
from modelship.demo.deployment_steps import (
    SAMPLE_ROW,
    approve_and_promote,
    predict,
    watch_test_stage,
)
from modelship.demo.model_steps import NAMESPACE, apply_samples, watch_training
from modelship.demo.narrator import DemoError, Narrator
from modelship.operator.kube.client import Kube, KubeError, load_api_client


def run(root: Path, dev_dir: Path, keep: bool) -> int:
    say = Narrator()
    kube: Kube | None = None
    failed = False
    try:
        cluster = start_cluster(root, dev_dir, say)
        kube = Kube(load_api_client(str(cluster.kubeconfig)))
        start_operator(root, cluster.kubeconfig, kube, say, catalog_uri=cluster.catalog_uri)
        apply_samples(root, kube, say)
        watch_training(kube, say)
        watch_test_stage(kube, say)
        approve_and_promote(cluster.kubeconfig, kube, say)
        if predict(kube, say):
            predict_from_pod(kube, say, SAMPLE_ROW)
        look_around(cluster.kubeconfig, keep, say)
    except (DemoError, KubeError) as exc:
        failed = True
        print(f"\ndemo failed: {exc}", file=sys.stderr)
        print(
            f"logs: {dev_dir / 'logs'}; the cluster is left up for inspection "
            "(`make demo-down` stops it)",
            file=sys.stderr,
        )
    finally:
        if kube is not None:
            kube.close()
        if not (keep or failed):
            stop_demo(dev_dir)
    if not failed:
        print(f"\ndemo finished in {time.monotonic() - say.started:.0f}s", flush=True)
    return 1 if failed else 0


def look_around(kubeconfig: Path, keep: bool, say: Narrator) -> None:
    say.step("Look around")
    print(
        f"  export KUBECONFIG={kubeconfig}\n"
        f"  kubectl get modelship -n {NAMESPACE}\n"
        f"  kubectl get pods,jobs,deployments.apps,services -n {NAMESPACE}\n"
        f"  kubectl describe mdep iris -n {NAMESPACE}\n"
        f"  .venv/bin/modelship status -n {NAMESPACE}",
        flush=True,
    )
    if keep:
        print(
            "\nThe cluster and the operator keep running; `make demo-down` stops them.", flush=True
        )
    else:
        print(
            "\nTearing the cluster down (run `make demo` with DEMO_FLAGS=--keep to keep it).",
            flush=True,
        )
