"""The operator running inside the cluster from manifests/default, as `make deploy` puts it.

On the local cluster the local node runs the operator pod with its own ServiceAccount token, so
tests through it exercise the shipped RBAC for real. `deploy` applies the kustomization (with a
test module's extra environment); `configure` instead changes the environment of an operator
that was deployed beforehand (`make kind-e2e`) and `restore` puts it back. The approval webhook
is reached as on any cluster: through its Service, with the certificates the operator keeps
(nothing is pointed by hand); `wait_for_webhook` only waits until it answers.
"""

from __future__ import annotations

from typing import Any

import yaml

from modelship.operator.kube.client import Kube
from modelship.operator.kube.resources import APPS_DEPLOYMENTS, LEASES, PODS
from support.factories import iris_deployment
from support.kubectl import Kubectl, named, render
from support.waiting import wait_for
from support.webhook import remove_webhook_configurations

Obj = dict[str, Any]
SYSTEM = "modelship-system"
# A modelship Deployment created with --dry-run=server goes through both webhooks (sideEffects
# None) and is not persisted: it succeeds only when the webhook answers through its Service.
WEBHOOK_PROBE = yaml.safe_dump(iris_deployment("webhook-probe"))
NAME = "modelship-operator"
OPERATOR_PODS = {"app.kubernetes.io/name": "modelship", "app.kubernetes.io/component": "operator"}


def with_env(deployment: Obj, overrides: dict[str, str]) -> list[Obj]:
    """The operator container's env with `overrides` set (replacing entries of the same name)."""
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    kept = [e for e in container.get("env", []) if e["name"] not in overrides]
    return kept + [{"name": k, "value": v} for k, v in overrides.items()]


def rolled_out(deployment: Obj | None) -> bool:
    """The current template runs in every replica, all updated and available."""
    if not deployment:
        return False
    status = deployment.get("status") or {}
    wanted = deployment["spec"].get("replicas", 1)
    return bool(
        status.get("observedGeneration", 0) >= deployment["metadata"]["generation"]
        and status.get("updatedReplicas") == wanted
        and status.get("availableReplicas") == wanted
        and status.get("replicas") == wanted
    )


class InClusterOperator:
    def __init__(self, kube: Kube, kubectl: Kubectl) -> None:
        self.kube, self.kubectl = kube, kubectl
        self._original_env: list[Obj] | None = None

    def deploy(self, env: dict[str, str]) -> None:
        """`kubectl apply -k manifests/default`, with `env` added to the operator container."""
        objects = render("default")
        deployment = named(objects, "Deployment", NAME)
        deployment["spec"]["template"]["spec"]["containers"][0]["env"] = with_env(deployment, env)
        self.kubectl.apply(objects)
        self.wait_running()
        self.wait_for_webhook()

    def webhook_answers(self) -> bool:
        """One write of a modelship Deployment (server-side dry run) admitted through the
        webhook's Service."""
        result = self.kubectl(
            "create", "--dry-run=server", "-n", "default", "-f", "-",
            input=WEBHOOK_PROBE, check=False,
        )  # fmt: skip
        return result.returncode == 0

    def wait_for_webhook(self, timeout: float = 120) -> None:
        """Until the webhook answers through its Service several times in a row (the Service
        picks an endpoint per call: every replica has its turn)."""
        wait_for(
            lambda: all(self.webhook_answers() for _ in range(4)),
            timeout=timeout,
            what="the approval webhook to answer through its Service",
            describe=self.describe,
        )

    def configure(self, env: dict[str, str]) -> None:
        """Set `env` on the operator already deployed (a no-op when it has it already)."""
        self.wait_running()
        deployment = self.deployment() or {}
        current = deployment["spec"]["template"]["spec"]["containers"][0].get("env", [])
        wanted = with_env(deployment, env)
        if wanted != current:
            self._original_env = current
            self._set_env(deployment, wanted)

    def restore(self) -> None:
        """Give the operator back the environment it had before `configure`."""
        if self._original_env is not None:
            deployment = self.deployment() or {}
            self._set_env(deployment, self._original_env)
            self._original_env = None

    def _set_env(self, deployment: Obj, env: list[Obj]) -> None:
        containers = deployment["spec"]["template"]["spec"]["containers"]
        patched = [{**containers[0], "env": env}, *containers[1:]]
        patch = {"spec": {"template": {"spec": {"containers": patched}}}}
        self.kube.patch(APPS_DEPLOYMENTS, SYSTEM, NAME, patch)
        self.wait_running()
        self.wait_for_webhook()

    def remove(self) -> None:
        """Delete only the operator Deployment (and its webhook configurations, which would
        refuse every later Deployment write): the CRDs stay for the rest of the session."""
        remove_webhook_configurations(self.kubectl.kubeconfig)
        self.kube.delete(APPS_DEPLOYMENTS, SYSTEM, NAME)
        wait_for(lambda: not self.pods(), timeout=120, what="the operator pod to be gone")

    def wait_running(self) -> None:
        wait_for(
            lambda: self.running_pod() if rolled_out(self.deployment()) else None,  # a leader
            timeout=180,
            what="the operator Deployment to be rolled out and one of its pods to lead",
            describe=self.describe,
        )

    def deployment(self) -> Obj | None:
        return self.kube.get(APPS_DEPLOYMENTS, SYSTEM, NAME)

    def pods(self) -> list[Obj]:
        return self.kube.list(PODS, SYSTEM, OPERATOR_PODS)

    def running_pods(self) -> list[Obj]:
        """Every pod, Running and Ready, when all replicas are (none is being replaced)."""
        pods = [p for p in self.pods() if not p["metadata"].get("deletionTimestamp")]
        ready = [
            p
            for p in pods
            if (p.get("status") or {}).get("phase") == "Running"
            and any(
                c["type"] == "Ready" and c["status"] == "True"
                for c in p["status"].get("conditions") or []
            )
        ]
        wanted = ((self.deployment() or {}).get("spec") or {}).get("replicas", 1)
        return ready if len(ready) == len(pods) == wanted else []

    def running_pod(self) -> Obj | None:
        """The leader's pod (the one holding the Lease), once every replica runs."""
        pods = self.running_pods()
        lease = self.kube.get(LEASES, SYSTEM, NAME) or {}
        holder = str((lease.get("spec") or {}).get("holderIdentity") or "")
        leaders = [p for p in pods if holder.startswith(p["metadata"]["name"] + "_")]
        return leaders[0] if leaders else None

    def logs(self) -> str:
        return self.kubectl(
            "logs", "-n", SYSTEM, "-l", "app.kubernetes.io/component=operator",
            "--prefix", "--tail=-1", check=False,
        ).stdout  # fmt: skip

    def describe(self) -> str:
        pods = [
            (p["metadata"]["name"], (p.get("status") or {}).get("phase"),
             (p.get("status") or {}).get("containerStatuses"))
            for p in self.pods()
        ]  # fmt: skip
        return f"pods: {pods}\nlogs:\n{self.logs()}"
