"""`modelship.client.Client`: the loop from a notebook or a script, on the same typed API models.

Every call is one or a few API requests with the caller's own credentials, so what a person may do
here is exactly what RBAC lets them do with kubectl; approving in particular writes only the
version and digest of `spec.approval`, and the cluster records who approved.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any, cast

from kubernetes import client, config

from modelship.api.v1alpha1 import (
    API_VERSION,
    GROUP,
    VERSION,
    AcceptanceReport,
    Approval,
    BatchPrediction,
    BatchPredictionSpec,
    Deployment,
    DeploymentSpec,
    Model,
    ModelSpec,
    TrainingJob,
)
from modelship.client.prediction import post_infer, ready_pod_ips
from modelship.client.progress import Progress
from modelship.client.versions import Comparison, VersionRow, VersionTable
from modelship.client.waiting import KIND_NAMES, Kind, State, Verdict, judge
from modelship.client.watch import follow

Obj = dict[str, Any]


class WaitError(RuntimeError):
    """The object cannot reach the goal (acceptance or gates failed, rolled back) or timed out."""

    def __init__(self, verdict: Verdict) -> None:
        super().__init__(verdict.message)
        self.verdict = verdict


def _namespace(kubeconfig: str | None) -> str:
    try:
        _, context = config.list_kube_config_contexts(config_file=kubeconfig)  # type: ignore[no-untyped-call]
        return str(context.get("context", {}).get("namespace") or "default")
    except (config.ConfigException, OSError):
        return "default"


def _api(kubeconfig: str | None) -> client.ApiClient:
    configuration = client.Configuration()
    try:
        config.load_kube_config(config_file=kubeconfig, client_configuration=configuration)  # type: ignore[no-untyped-call]
    except (config.ConfigException, OSError):
        config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
    return client.ApiClient(configuration)


class Client:
    """Models, Deployments and their versions in one namespace.

    >>> ms = Client(namespace="ml")          # kubeconfig as kubectl finds it, or in-cluster
    """

    def __init__(
        self, namespace: str | None = None, kubeconfig: str | None = None, progress: bool = True
    ) -> None:
        # Read now, not when the kubernetes package was imported (it reads $KUBECONFIG then).
        kubeconfig = kubeconfig or os.environ.get("KUBECONFIG")
        self.namespace = namespace or _namespace(kubeconfig)
        self.progress = progress
        self._api = _api(kubeconfig)
        self._custom = client.CustomObjectsApi(self._api)
        self._core = client.CoreV1Api(self._api)

    def close(self) -> None:
        self._api.close()  # type: ignore[no-untyped-call]

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- objects ---------------------------------------------------------------------------
    def _get(self, kind: Kind, name: str) -> Obj | None:
        try:
            return cast(
                Obj,
                self._custom.get_namespaced_custom_object(
                    GROUP, VERSION, self.namespace, kind.plural, name
                ),
            )
        except client.ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def _apply(self, kind: Kind, kind_name: str, name: str, spec: Obj) -> Obj:
        """Create the object, or replace its spec whole (what the caller gave is what it wants)."""
        current = self._get(kind, name)
        if current is None:
            body = {"apiVersion": API_VERSION, "kind": kind_name, "metadata": {"name": name}}
            return cast(
                Obj,
                self._custom.create_namespaced_custom_object(
                    GROUP, VERSION, self.namespace, kind.plural, {**body, "spec": spec}
                ),
            )
        current["spec"] = spec
        return cast(
            Obj,
            self._custom.replace_namespaced_custom_object(
                GROUP, VERSION, self.namespace, kind.plural, name, current
            ),
        )

    def apply_model(self, name: str, spec: ModelSpec) -> Model:
        """Create or update the Model `name`; a changed training spec trains a new version."""
        body = self._apply(Kind.MODEL, "Model", name, spec.to_wire())
        return Model.model_validate(body)

    def apply_deployment(self, name: str, spec: DeploymentSpec) -> Deployment:
        body = self._apply(Kind.DEPLOYMENT, "Deployment", name, spec.to_wire())
        return Deployment.model_validate(body)

    def model(self, name: str) -> Model:
        return Model.model_validate(self._require(Kind.MODEL, name))

    def submit_batch(self, name: str, spec: BatchPredictionSpec) -> BatchPrediction:
        """Create the BatchPrediction `name` (a run: an existing one is returned as it is, never
        changed, so submitting twice starts one run)."""
        kind = Kind.BATCH_PREDICTION
        body = {
            "apiVersion": API_VERSION,
            "kind": "BatchPrediction",
            "metadata": {"name": name},
            "spec": spec.to_wire(),
        }
        try:
            created = self._custom.create_namespaced_custom_object(
                GROUP, VERSION, self.namespace, kind.plural, body
            )
        except client.ApiException as exc:
            if exc.status != 409:
                raise
            return self.batch_prediction(name)
        return BatchPrediction.model_validate(created)

    def batch_prediction(self, name: str) -> BatchPrediction:
        return BatchPrediction.model_validate(self._require(Kind.BATCH_PREDICTION, name))

    def score(self, name: str, spec: BatchPredictionSpec, timeout: float = 3600) -> BatchPrediction:
        """Submit the run and wait until it succeeded (WaitError when it failed or timed out);
        returns it, with the pinned version and the output's reference and digest in status."""
        self.submit_batch(name, spec)
        self.wait(f"bp/{name}", "Succeeded", timeout=timeout)
        return self.batch_prediction(name)

    def deployment(self, name: str) -> Deployment:
        return Deployment.model_validate(self._require(Kind.DEPLOYMENT, name))

    def _require(self, kind: Kind, name: str) -> Obj:
        body = self._get(kind, name)
        if body is None:
            raise LookupError(f"{kind.plural}/{name} not found in namespace {self.namespace}")
        return body

    # -- waiting ---------------------------------------------------------------------------
    def wait(
        self, target: str, goal: str, version: int | None = None, timeout: float = 600
    ) -> Verdict:
        """Wait like `modelship wait KIND/NAME --for GOAL`; raises WaitError unless reached."""
        kind_name, _, name = target.partition("/")
        kind = KIND_NAMES[kind_name.lower()]
        verdict = follow(
            self._api,
            kind,
            self.namespace,
            name,
            lambda body: judge(kind, goal, version, body),
            timeout,
            seen=Progress(f"{target} {goal}", enabled=self.progress),
        )
        if verdict.state is not State.REACHED:
            raise WaitError(verdict)
        return verdict

    def wait_for_version(self, model: str, version: int | None = None, timeout: float = 600) -> int:
        """Wait until the Model has `version` (default: a version for its current spec) that
        passed its gates; returns the version."""
        verdict = self.wait(f"model/{model}", "Trained", version, timeout)
        assert verdict.version is not None
        return verdict.version

    # -- versions --------------------------------------------------------------------------
    def versions(self, model: str) -> VersionTable:
        """The Model's versions (newest first) with metrics, params, dataset digest and gates."""
        status = self.model(model).status
        listing = self._custom.list_namespaced_custom_object(
            GROUP,
            VERSION,
            self.namespace,
            "trainingjobs",
            label_selector=f"modelship.io/model={model}",
        )
        jobs = {
            item["metadata"]["name"]: TrainingJob.model_validate(item)
            for item in cast(Obj, listing).get("items", [])
        }
        return VersionTable(
            [VersionRow.of(v, jobs.get(v.training_job or "")) for v in status.versions]
        )

    def compare(self, model: str, a: int, b: int) -> Comparison:
        """Versions `a` and `b` side by side."""
        table = self.versions(model)
        return Comparison(table[a], table[b])

    # -- test stage, approval, prediction ----------------------------------------------------
    def acceptance_report(self, deployment: str) -> AcceptanceReport | None:
        test = self.deployment(deployment).status.test
        return test.report if test is not None else None

    def approve(self, deployment: str, version: int | None = None) -> Approval:
        """Approve the version the test stage passed (refused unless it passed, and unless it is
        `version` when given): writes its version and digest; who approved is the cluster's to
        record, from the credentials of this request."""
        test = self.deployment(deployment).status.test
        if test is None or test.passed is not True or test.version is None or not test.digest:
            raise ValueError(f"nothing to approve: the test stage of {deployment} has not passed")
        if version is not None and version != test.version:
            raise ValueError(f"version {version} is not the tested version ({test.version})")
        approval = Approval(version=test.version, digest=test.digest)
        self._custom.patch_namespaced_custom_object(
            GROUP,
            VERSION,
            self.namespace,
            "deployments",
            deployment,
            {"spec": {"approval": approval.to_wire()}},
        )
        return approval

    def predict(
        self,
        deployment: str,
        rows: Sequence[Sequence[float]] | Mapping[str, Sequence[Any]],
        stage: str = "production",
    ) -> list[Any]:
        """Predictions for `rows` from one ready pod of the stage (Open Inference Protocol):
        rows of numbers, or for typed features columns by name (see `infer_request`)."""
        model = self.deployment(deployment).spec.model_ref.name
        selector = f"modelship.io/deployment={deployment},modelship.io/stage={stage}"
        pods = self._core.list_namespaced_pod(self.namespace, label_selector=selector).items
        ready = ready_pod_ips(pods)
        if not ready:
            raise LookupError(f"no ready {stage} pod of {deployment} in {self.namespace}")
        return post_infer(ready[0], model, rows)
