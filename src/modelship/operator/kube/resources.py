"""The API resources the operator addresses, as data: (group, version, plural) and kind.

Apart from the client so that pure code (decisions, actions, builders) can name a resource
without importing the Kubernetes client library.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from modelship.api.v1alpha1 import GROUP, VERSION


@dataclass(frozen=True)
class Resource:
    group: str
    version: str
    plural: str
    kind: str

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def path(self, namespace: str | None, name: str | None = None, sub: str | None = None) -> str:
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if namespace is not None:
            base += f"/namespaces/{quote(namespace)}"
        base += f"/{self.plural}"
        if name is not None:
            base += f"/{quote(name)}"
        if sub is not None:
            base += f"/{sub}"
        return base


MODELS = Resource(GROUP, VERSION, "models", "Model")
TRAINING_JOBS = Resource(GROUP, VERSION, "trainingjobs", "TrainingJob")
MODEL_DEPLOYMENTS = Resource(GROUP, VERSION, "deployments", "Deployment")
BATCH_PREDICTIONS = Resource(GROUP, VERSION, "batchpredictions", "BatchPrediction")
JOBS = Resource("batch", "v1", "jobs", "Job")
PODS = Resource("", "v1", "pods", "Pod")
PVCS = Resource("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim")
SERVICES = Resource("", "v1", "services", "Service")
APPS_DEPLOYMENTS = Resource("apps", "v1", "deployments", "Deployment")
PDBS = Resource("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget")
# Production's HorizontalPodAutoscaler (autoscaling.mode: hpa).
HPAS_V2 = Resource("autoscaling", "v2", "horizontalpodautoscalers", "HorizontalPodAutoscaler")
# The leader Lease, in the operator's own namespace (see leadership.py).
LEASES = Resource("coordination.k8s.io", "v1", "leases", "Lease")
# Created only by an operator run outside the cluster when its Lease namespace is missing.
NAMESPACES = Resource("", "v1", "namespaces", "Namespace")
# The admission webhook asks the authorizer whether a requester may approve (cluster-scoped).
SUBJECT_ACCESS_REVIEWS = Resource(
    "authorization.k8s.io", "v1", "subjectaccessreviews", "SubjectAccessReview"
)
# What a canary rollout adds: the router's routing table and its narrowly scoped identity.
CONFIG_MAPS = Resource("", "v1", "configmaps", "ConfigMap")
SERVICE_ACCOUNTS = Resource("", "v1", "serviceaccounts", "ServiceAccount")
ROLES = Resource("rbac.authorization.k8s.io", "v1", "roles", "Role")
ROLE_BINDINGS = Resource("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding")
# traffic: gatewayAPI: the weighted route, applied only where the API server serves that API.
HTTPROUTES = Resource("gateway.networking.k8s.io", "v1", "httproutes", "HTTPRoute")
# The approval webhook's certificates (admission/keeper.py): one Secret in the operator's own
# namespace, and the caBundle of its two webhook configurations (cluster-scoped), by name.
SECRETS = Resource("", "v1", "secrets", "Secret")
MUTATING_WEBHOOKS = Resource(
    "admissionregistration.k8s.io", "v1", "mutatingwebhookconfigurations",
    "MutatingWebhookConfiguration",
)  # fmt: skip
VALIDATING_WEBHOOKS = Resource(
    "admissionregistration.k8s.io", "v1", "validatingwebhookconfigurations",
    "ValidatingWebhookConfiguration",
)  # fmt: skip
