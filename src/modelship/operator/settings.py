"""Operator configuration: one settings root, read from `MODELSHIP_OPERATOR_*` at startup."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PREFIX = "MODELSHIP_OPERATOR_"


class LeadershipSettings(BaseSettings):
    """Who acts: the leader Lease (ha/). A group of OperatorSettings, read with its prefix."""

    model_config = SettingsConfigDict(env_prefix=PREFIX, extra="ignore")

    leader_election: bool = Field(
        default=True,
        description="Act only while holding the leader Lease, so two instances never both act.",
    )
    lease_name: str = Field(default="modelship-operator", description="Name of the leader Lease.")
    lease_namespace: str = Field(
        default="modelship-system",
        description="Namespace of the leader Lease: the operator's own (the manifests set it "
        "from the pod); a local `make run` uses the same one, so it stands by beside a "
        "deployed operator.",
    )
    lease_identity: str = Field(
        default="",
        description="Who holds the Lease: this name (the manifests give the pod's) or the host "
        "name, plus a random suffix, so a restarted process is never taken for its predecessor.",
    )
    lease_duration_seconds: float = Field(
        default=15.0, gt=0, description="How long a silent leader keeps the Lease."
    )
    lease_renew_deadline_seconds: float = Field(
        default=10.0, gt=0, description="A leader that cannot renew for this long stops acting."
    )
    lease_retry_period_seconds: float = Field(
        default=2.0,
        gt=0,
        description="Pause between tries to acquire the Lease, and after a failed renewal.",
    )
    lease_renew_interval_seconds: float | None = Field(
        default=None,
        gt=0,
        description="Pause between a leader's renewals while they succeed (default: half the "
        "renew deadline, 5 s).",
    )

    @model_validator(mode="after")
    def _lease_timing_is_ordered(self) -> LeadershipSettings:
        # The leader must give up (renew deadline) before a standby may take over (duration),
        # or both would act for a moment; and it must get more than one try before giving up.
        if not (
            self.lease_retry_period_seconds
            < self.lease_renew_deadline_seconds
            < self.lease_duration_seconds
        ):
            raise ValueError(
                "need lease_retry_period_seconds < lease_renew_deadline_seconds "
                "< lease_duration_seconds"
            )
        renew = self.lease_renew_interval_seconds
        if renew is not None and renew >= self.lease_renew_deadline_seconds:
            raise ValueError("need lease_renew_interval_seconds < lease_renew_deadline_seconds")
        return self


class AdmissionSettings(BaseSettings):
    """The approval webhook (admission/). A group of OperatorSettings, read with its prefix."""

    model_config = SettingsConfigDict(env_prefix=PREFIX, extra="ignore")

    admission_port: int = Field(
        default=9443,
        ge=0,
        le=65535,
        description="Port of the approval admission webhook (HTTPS; every replica serves it); "
        "0 turns it off.",
    )
    admission_host: str = Field(
        default="0.0.0.0", description="Address the admission webhook listens on."
    )
    admission_secret: str = Field(
        default="",
        description="The Secret (in admission_namespace) whose tls.crt/tls.key every replica "
        "serves, read through the API and reloaded when it changes; without cert-manager the "
        "leader creates and rotates it. '' = serve the files below instead (`make run`).",
    )
    admission_namespace: str = Field(
        default="modelship-system",
        description="The operator's own namespace: where the Secret and the webhook's Service "
        "are (the manifests set it from the pod).",
    )
    admission_service: str = Field(
        default="modelship-operator-webhook",
        description="The Service the webhook configurations call: its DNS names are the "
        "serving certificate's names.",
    )
    admission_configurations: str = Field(
        default="modelship-approvals",
        description="Name of the Mutating- and ValidatingWebhookConfiguration whose caBundle "
        "the leader keeps (unless they carry cert-manager's inject-ca-from annotation).",
    )
    admission_manage_certificates: bool = Field(
        default=True,
        description="Let the leader issue, rotate and inject the webhook's certificates when "
        "no cert-manager does; false: someone else provides the Secret and the caBundle.",
    )
    admission_certificate_lifetime_seconds: float = Field(
        default=90 * 86400.0,
        gt=0,
        description="Validity of each CA and serving certificate the operator issues.",
    )
    admission_rotate_before_seconds: float = Field(
        default=30 * 86400.0,
        gt=0,
        description="A new pair is staged this long before the served one expires; the old CA "
        "stays trusted until then, so replicas not reloaded yet keep working.",
    )
    admission_propagation_seconds: float = Field(
        default=30.0,
        ge=0,
        description="How long a new CA is trusted by the webhook configurations before the "
        "pair it signed is served (the API servers see configuration changes with a lag).",
    )
    admission_drain_seconds: float = Field(
        default=3.0,
        ge=0,
        description="How long a stopping replica serving admission_secret's pair keeps "
        "answering the webhook: the API server may call it until it sees the pod leave the "
        "Service's endpoints (it delays the leader's Lease release by as much).",
    )
    admission_cert_file: str = Field(
        default="",
        description="The webhook's certificate when no admission_secret is set; reloaded when "
        "it changes. When it or the key is missing, a self-signed pair is generated.",
    )
    admission_key_file: str = Field(default="", description="The webhook's private key.")
    admission_generated_dir: str = Field(
        default="",
        description="Where a generated self-signed pair is written (tls.crt is the caBundle); "
        "'' = a new temporary directory per process, so two operators never share one.",
    )
    admission_names: list[str] = Field(
        default_factory=lambda: ["localhost", "127.0.0.1"],
        description="DNS names and IP addresses of a generated certificate (the listen address "
        "is added when it is one).",
    )
    admission_reload_seconds: float = Field(
        default=10.0,
        gt=0,
        description="How often every replica checks its certificate (Secret or files) for a "
        "change, and the leader its rotation.",
    )
    approval_trusted_appliers: list[str] = Field(
        default_factory=list,
        description="Usernames (e.g. a GitOps controller's ServiceAccount, "
        "system:serviceaccount:flux-system:kustomize-controller) whose spec.approval.approvedBy "
        "is recorded as a claim beside their own identity instead of being refused.",
    )

    @model_validator(mode="after")
    def _rotation_leaves_time_to_reload(self) -> AdmissionSettings:
        # The old CA stays trusted for rotate_before after the new pair is staged: staging,
        # injecting, propagating and every replica's reload must fit well inside it.
        needed = self.admission_propagation_seconds + 3 * self.admission_reload_seconds
        if (
            not needed
            < self.admission_rotate_before_seconds
            < (self.admission_certificate_lifetime_seconds)
        ):
            raise ValueError(
                "need admission_propagation_seconds + 3 * admission_reload_seconds "
                "< admission_rotate_before_seconds < admission_certificate_lifetime_seconds"
            )
        return self


class OperatorSettings(LeadershipSettings, AdmissionSettings):
    """Everything the operator can be told; tests pass values to the constructor instead.

    One root with one prefix (`MODELSHIP_OPERATOR_`); the leadership and webhook settings are
    declared in their own groups above, inherited here, and read under the same names."""

    model_config = SettingsConfigDict(env_prefix=PREFIX, extra="ignore")

    image: str = Field(
        default="modelship:0.1.0",
        description="Image of the trainer, the inference server and the acceptance Job.",
    )
    image_pull_policy: str = Field(default="IfNotPresent", description="Pull policy of that image.")
    catalog_claim: str = Field(default="modelship-catalog", description="Catalog PVC name.")
    catalog_size: str = Field(default="5Gi", description="Size of a newly created catalog PVC.")
    catalog_storage_class: str | None = Field(
        default=None, description="Storage class of a new catalog PVC (cluster default if unset)."
    )
    catalog_mount_path: str = Field(
        default="/var/lib/modelship/catalog", description="Where pods mount the catalog."
    )
    catalog_uri: str = Field(
        default="",
        pattern=r"^(oci://[^/?]+(/[^?]*)?(\?.*)?)?$",
        description="A registry shared by every namespace (oci://host[:port]/prefix, "
        "?plain-http=true only for a registry without TLS); empty: a catalog volume per namespace.",
    )
    catalog_credentials_secret: str = Field(
        default="",
        description="A kubernetes.io/dockerconfigjson Secret in each model namespace, mounted "
        "into trainer (push) and serving/acceptance (pull) pods; the operator never reads it.",
    )
    allowed_artifact_types: list[str] = Field(
        default_factory=list,
        description="The platform admin's allowlist of extra types (module.Class) an estimator "
        "returned by a Model's own training code may hold, beyond Modelship's built-in skops "
        "allowlist. A Model only requests them (spec.training.code.trustedTypes); a request "
        "outside this list fails its TrainingJob naming the type.",
    )
    trainer_service_account: str = Field(
        default="", description="ServiceAccount of trainer pods ('' = the namespace default)."
    )
    serving_service_account: str = Field(
        default="", description="ServiceAccount of inference pods ('' = the namespace default)."
    )
    rollout_deadline_seconds: int = Field(
        default=120, ge=10, description="progressDeadlineSeconds of the stage Deployments."
    )
    acceptance_timeout_seconds: int = Field(
        default=300, ge=10, description="Wall-clock limit of one acceptance Job."
    )
    namespaces: list[str] = Field(
        default_factory=list, description="Namespaces to watch; empty means the whole cluster."
    )
    versions_in_status: int = Field(
        default=10, ge=1, description="Versions listed in Model status."
    )
    retry_backoff_seconds: float = Field(
        default=10.0, gt=0, description="First back-off between training attempts (doubles)."
    )
    retry_backoff_max_seconds: float = Field(default=300.0, gt=0, description="Back-off cap.")
    resync_seconds: float = Field(
        default=10.0, gt=0, description="How often active TrainingJobs are re-checked."
    )
    settled_resync_seconds: float = Field(
        default=1800.0,
        ge=10,
        description="A settled Deployment's look against a missed event (its children the "
        "operator does not watch: Services, PDBs, HPAs); spread by ±10 % per Deployment.",
    )
    handler_threads: int = Field(
        default=8, ge=1, le=256, description="Reconciles at once, each with its API connection."
    )
    health_endpoint: str = Field(
        default="http://0.0.0.0:8080/healthz",
        description="Kopf's liveness endpoint (the operator Deployment's livenessProbe).",
    )
    standalone: bool = Field(
        default=True,
        description="Run without Kopf's peering (its CRDs and writes); leader election on a Lease "
        "keeps two instances from acting at once instead.",
    )
    drift_interval_seconds: float = Field(
        default=30.0,
        ge=1,
        description="How often production drift reports are read (checked on a 2-second tick).",
    )
    drift_access: Literal["auto", "pod", "service", "proxy"] = Field(
        default="auto",
        description=(
            "How drift reports are read: pod (each ready pod's IP; in-cluster and on the local "
            "cluster), service (the Service's DNS name: one pod sampled per read), proxy (the API "
            "server's pod proxy, from outside the cluster), or auto (pod in-cluster; outside, "
            "pod addresses with a fall-back to the proxy when they cannot be reached)."
        ),
    )
    drift_read_timeout_seconds: float = Field(
        default=3.0, gt=0, description="Timeout of one drift report read."
    )
    autoscale_stable_window_seconds: float = Field(
        default=60.0,
        gt=0,
        description="Autoscaling's stable window: production scales down only on the average "
        "in-flight requests over this long (Knative's default).",
    )
    autoscale_panic_window_seconds: float = Field(
        default=6.0,
        gt=0,
        description="Autoscaling's panic window: a burst that wants twice the ready pods over "
        "this long scales production up at once.",
    )
    autoscale_sample_seconds: float = Field(
        default=2.0,
        gt=0,
        description="How often autoscaled production pods' in-flight gauges are read.",
    )
    dataset_check_interval_seconds: float = Field(
        default=300.0,
        ge=10,
        description="How often an http(s) dataset is checked (HEAD) when onDatasetChange is set.",
    )
    metrics_endpoint: str = Field(
        default="http://0.0.0.0:8081/metrics",
        description="Where every replica serves its Prometheus metrics ('' = not at all).",
    )

    @model_validator(mode="after")
    def _autoscale_windows_nest(self) -> OperatorSettings:
        if self.autoscale_panic_window_seconds > self.autoscale_stable_window_seconds:
            raise ValueError(
                "need autoscale_panic_window_seconds <= autoscale_stable_window_seconds"
            )
        return self
