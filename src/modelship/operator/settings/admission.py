"""The approval webhook's listener and certificates (admission/), one group of the operator's
settings."""

from __future__ import annotations

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from modelship.operator.settings.prefix import PREFIX


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
