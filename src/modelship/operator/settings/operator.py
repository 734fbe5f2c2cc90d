"""The operator's settings root: its own fields, with the leadership and webhook groups."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from modelship.operator.settings.admission import AdmissionSettings
from modelship.operator.settings.leadership import LeadershipSettings
from modelship.operator.settings.prefix import PREFIX


class OperatorSettings(LeadershipSettings, AdmissionSettings):
    """Everything the operator can be told; tests pass values to the constructor instead.

    One root with one prefix (`MODELSHIP_OPERATOR_`); the leadership and webhook settings are
    declared in their own groups (leadership.py, admission.py), inherited here, and read under
    the same names."""

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
    drift_unchanged_write_seconds: float = Field(
        default=300.0,
        ge=0,
        description="A drift reading that finds the figures status.drift already records is "
        "written (its checkedAt) only when that record is this old; a changed reading is written "
        "at once. 0: every reading is written.",
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
