"""The demo's steps: cluster, operator, Model, training, test stage, approval, production, predict.

It exits 0 only when every step really happened on the cluster; each wait has a deadline and a
failure names the stage and what the cluster showed at that moment.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

from modelship.demo.narrator import DemoError, Narrator, condition
from modelship.devcluster.cluster import DevCluster
from modelship.operator.kube import (
    APPS_DEPLOYMENTS,
    MODEL_DEPLOYMENTS,
    MODELS,
    PODS,
    TRAINING_JOBS,
    Kube,
    KubeError,
    Resource,
    load_api_client,
)

NAMESPACE = "modelship-demo"
OPERATOR_NAMESPACE = "modelship-system"
NAMESPACES = Resource("", "v1", "namespaces", "Namespace")
SAMPLE_ROW = [6.1, 2.8, 4.7, 1.2]


class Demo:
    def __init__(self, root: Path, dev_dir: Path, narrator: Narrator) -> None:
        self.root, self.dev_dir, self.say = root, dev_dir, narrator
        self.cluster = DevCluster(dev_dir)
        self.kube: Kube | None = None

    # -- infrastructure ------------------------------------------------------------------------
    def start_cluster(self) -> Kube:
        self.say.step("Local cluster: etcd, kube-apiserver, kube-controller-manager, local node")
        if self.dev_dir.exists():  # a demo always starts from an empty cluster
            stop_demo(self.dev_dir)
            self.cluster = DevCluster(self.dev_dir)
        self.cluster.up(crds_dir=self.root / "crds")
        self.say.say(f"API server ready; kubeconfig {self.cluster.kubeconfig}")
        self.kube = Kube(load_api_client(str(self.cluster.kubeconfig)))
        return self.kube

    def start_operator(self, kube: Kube) -> None:
        """Deploy the operator the way a cluster runs it: manifests/default, its own RBAC."""
        self.say.step("Operator: kubectl apply -k manifests/default (runs in the cluster)")
        kubectl = Path(sys.executable).parent / "kubectl"
        result = subprocess.run(
            [
                str(kubectl if kubectl.exists() else "kubectl"),
                "--kubeconfig",
                str(self.cluster.kubeconfig),
                "apply",
                "-k",
                str(self.root / "manifests" / "default"),
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        if result.returncode != 0:
            raise DemoError(f"kubectl apply -k manifests/default failed: {result.stderr.strip()}")
        self.say.say(f"applied {len(result.stdout.splitlines())} objects: CRDs, RBAC, the operator")

        def available() -> bool:
            deployment = kube.get(APPS_DEPLOYMENTS, OPERATOR_NAMESPACE, "modelship-operator") or {}
            return bool((deployment.get("status") or {}).get("availableReplicas"))

        self.say.wait("the operator Deployment to be available", available, timeout=120)
        self.say.say(
            f"operator running as ServiceAccount {OPERATOR_NAMESPACE}/modelship-operator "
            f"(logs: modelship dev logs -n {OPERATOR_NAMESPACE} <pod>)"
        )

    def stop(self, keep: bool) -> None:
        if not keep:
            stop_demo(self.dev_dir)

    # -- the loop ------------------------------------------------------------------------------
    def apply_samples(self, kube: Kube) -> None:
        self.say.step(f"Apply the sample Model and Deployment in namespace {NAMESPACE}")
        try:
            kube.create(NAMESPACES, None, {"metadata": {"name": NAMESPACE}})  # type: ignore[arg-type]
        except KubeError as exc:
            if exc.status != 409:
                raise
        self.say.wait(
            "the namespace's ServiceAccount",
            lambda: kube.get(
                Resource("", "v1", "serviceaccounts", "ServiceAccount"), NAMESPACE, "default"
            ),
            30,
        )
        for sample in ("model-iris.yaml", "deployment-iris.yaml"):
            body = yaml.safe_load((self.root / "manifests" / "samples" / sample).read_text())
            res = MODELS if body["kind"] == "Model" else MODEL_DEPLOYMENTS
            if kube.get(res, NAMESPACE, body["metadata"]["name"]) is None:
                kube.create(res, NAMESPACE, body)
            self.say.say(
                f"applied {body['kind']} {body['metadata']['name']} (manifests/samples/{sample})"
            )

    def watch_training(self, kube: Kube) -> dict[str, Any]:
        self.say.step(
            "Training: the Model controller creates a TrainingJob, which runs a batch/v1 Job"
        )

        def narrate() -> None:
            for tj in kube.list(TRAINING_JOBS, NAMESPACE):
                name, st = tj["metadata"]["name"], tj.get("status") or {}
                self.say.once(
                    f"tj-{name}", f"TrainingJob {name} created (trigger {tj['spec']['trigger']})"
                )
                if st.get("jobName"):
                    self.say.once(
                        f"job-{name}",
                        f"Job {st['jobName']} runs the trainer (attempt {st.get('attempts')})",
                    )
                if st.get("phase") == "Succeeded":
                    metrics = ", ".join(
                        f"{k}={v:.3f}" for k, v in list(st.get("metrics", {}).items())[:4]
                    )
                    self.say.once(
                        f"ok-{name}",
                        f"TrainingJob {name} succeeded: version {st.get('version')} "
                        f"{st.get('artifact', {}).get('digest', '')[:19]}… {metrics}",
                    )
                    for gate in st.get("gates", []):
                        self.say.once(
                            f"gate-{name}-{gate['metric']}",
                            f"  gate {gate['metric']} "
                            f"{gate.get('value', 0):.3f} {gate['bound']}: "
                            f"{'passed' if gate['passed'] else 'FAILED'}",
                        )
                if st.get("phase") == "Failed":
                    raise DemoError(f"training failed: {st.get('failure')}")

        model = self.say.wait(
            "the first version",
            lambda: ((kube.get(MODELS, NAMESPACE, "iris") or {}).get("status") or {}).get(
                "latestVersion"
            ),
            300,
            narrate,
        )
        self.say.say(f"Model iris: latest version {model['version']} ({model.get('score', '')})")
        return dict(model)

    def watch_test_stage(self, kube: Kube) -> dict[str, Any]:
        self.say.step("Test stage: rolled out, checked by an acceptance Job")

        def narrate() -> None:
            body = kube.get(MODEL_DEPLOYMENTS, NAMESPACE, "iris") or {}
            test = (body.get("status") or {}).get("test") or {}
            if test.get("version"):
                self.say.once(
                    f"test-{test['version']}",
                    f"version {test['version']} rolled to "
                    f"Deployment iris-test behind Service {test.get('service')}",
                )
            tested = condition(body, "TestPassed")
            if tested.get("reason") == "AcceptanceRunning":
                self.say.once("acceptance", "test pods ready; acceptance Job running against them")
            if test.get("passed") is False:
                raise DemoError(f"the test stage failed: {tested.get('message')}")

        def awaiting() -> dict[str, Any] | None:
            body = kube.get(MODEL_DEPLOYMENTS, NAMESPACE, "iris") or {}
            status = body.get("status") or {}
            return dict(status) if status.get("phase") == "AwaitingApproval" else None

        status = self.say.wait("acceptance to pass", awaiting, 300, narrate)
        for check in status["test"]["report"]["checks"]:
            self.say.say(
                f"  check {check['name']}: {check.get('value')} {check.get('bound') or ''} "
                f"{'passed' if check['passed'] else 'FAILED'}"
            )
        self.say.say(
            f"phase AwaitingApproval: production is untouched until version "
            f"{status['test']['version']} is approved"
        )
        return dict(status)

    def approve_and_promote(self, kube: Kube) -> dict[str, Any]:
        self.say.step("Approval: modelship approve iris -n modelship-demo")
        command = [
            sys.executable,
            "-m",
            "modelship.cli",
            "approve",
            "iris",
            "-n",
            NAMESPACE,
            "--kubeconfig",
            str(self.cluster.kubeconfig),
        ]
        result = subprocess.run(command, capture_output=True, text=True, timeout=60)
        if result.returncode != 0:
            raise DemoError(f"modelship approve failed: {result.stderr.strip()}")
        self.say.say(result.stdout.strip())

        def serving() -> dict[str, Any] | None:
            st = (kube.get(MODEL_DEPLOYMENTS, NAMESPACE, "iris") or {}).get("status") or {}
            prod = st.get("production") or {}
            if prod.get("version"):
                self.say.once(
                    "promoting",
                    f"promoting version {prod['version']}: surge rollout, maxUnavailable 0",
                )
            return dict(st) if st.get("phase") == "Serving" and prod.get("readyReplicas") else None

        status = self.say.wait("production to serve", serving, 180)
        prod = status["production"]
        self.say.say(
            f"production serves version {prod['version']} with {prod['readyReplicas']} "
            f"ready replicas (promoted {prod.get('promotedAt')})"
        )
        return dict(status)

    def predict(self, kube: Kube) -> None:
        self.say.step("Prediction from the production endpoint")
        pods = [
            p
            for p in kube.list(
                PODS,
                NAMESPACE,
                {"modelship.io/deployment": "iris", "modelship.io/stage": "production"},
            )
            if (p.get("status") or {}).get("podIP")
        ]
        if not pods:
            raise DemoError("no production pod has an address")
        url = f"http://{pods[0]['status']['podIP']}:8080/v2/models/iris/infer"
        body = {
            "inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP64", "data": SAMPLE_ROW}],
            "outputs": [{"name": "predict"}, {"name": "predict_proba"}],
        }
        answer = httpx.post(url, json=body, timeout=10, trust_env=False)
        if answer.status_code != 200:
            raise DemoError(f"prediction failed: HTTP {answer.status_code} {answer.text}")
        outputs = {o["name"]: o["data"] for o in answer.json()["outputs"]}
        self.say.say(f"POST {url}")
        self.say.say(
            f"  input {SAMPLE_ROW} -> class {outputs['predict'][0]}, probabilities "
            f"{[round(p, 3) for p in outputs.get('predict_proba', [])]}"
        )

    def look_around(self, keep: bool) -> None:
        self.say.step("Look around")
        kubeconfig = self.cluster.kubeconfig
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
                "\nThe cluster and the operator keep running; `make demo-down` stops them.",
                flush=True,
            )
        else:
            print(
                "\nTearing the cluster down (run `make demo` with DEMO_FLAGS=--keep to keep it).",
                flush=True,
            )


def run(root: Path, dev_dir: Path, keep: bool) -> int:
    narrator = Narrator()
    demo = Demo(root, dev_dir, narrator)
    failed = False
    try:
        kube = demo.start_cluster()
        demo.start_operator(kube)
        demo.apply_samples(kube)
        demo.watch_training(kube)
        demo.watch_test_stage(kube)
        demo.approve_and_promote(kube)
        demo.predict(kube)
        demo.look_around(keep)
    except (DemoError, KubeError) as exc:
        failed = True
        print(f"\ndemo failed: {exc}", file=sys.stderr)
        print(
            f"logs: {dev_dir / 'logs'}; the cluster is left up for inspection "
            "(`make demo-down` stops it)",
            file=sys.stderr,
        )
    finally:
        if demo.kube is not None:
            demo.kube.close()
        demo.stop(keep or failed)
    if not failed:
        print(f"\ndemo finished in {time.monotonic() - narrator.started:.0f}s", flush=True)
    return 1 if failed else 0


def stop_demo(dev_dir: Path) -> None:
    """Stop the demo cluster (the local node stops every pod process, the operator's included)
    and delete its state: a demo cluster is disposable."""
    DevCluster(dev_dir).down()
    shutil.rmtree(dev_dir, ignore_errors=True)
