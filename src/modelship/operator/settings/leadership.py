"""Who acts: the leader Lease's timings and names (ha/), one group of the operator's settings."""

from __future__ import annotations

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from modelship.operator.settings.prefix import PREFIX


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
