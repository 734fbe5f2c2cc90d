"""Settings of one router process.

The fields the operator sets come from the `RouterEnv` contract; the rest are the router's own
knobs with defaults that suit the inference server behind it. Read from `MODELSHIP_ROUTER_*`
when the process starts (never at import); tests pass them to the constructor.
"""

from __future__ import annotations

from typing import Literal

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from modelship.contracts.routing import RouterEnv


class RouterSettings(BaseSettings, RouterEnv):
    """Everything `python -m modelship.router` needs."""

    model_config = SettingsConfigDict(
        env_prefix=RouterEnv.env_prefix, populate_by_name=True, extra="ignore"
    )

    host: str = "0.0.0.0"
    bind_host: str | None = Field(
        default=None,
        # The local dev node gives each pod its own loopback address in this variable (as for
        # the inference server); it is not ours to prefix.
        validation_alias=AliasChoices("bind_host", "MODELSHIP_BIND_HOST"),
    )
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    max_body_bytes: int = Field(
        default=4 * 1024 * 1024,
        ge=1024,
        description="Larger request bodies are refused with 413 (the server's own limit).",
    )
    idle_timeout_seconds: float = Field(
        default=75.0,
        gt=0,
        description="A client connection idle this long is closed (longer than the usual "
        "60 s of proxies and load balancers in front, so they close first).",
    )
    connect_timeout_seconds: float = Field(default=2.0, gt=0)
    request_timeout_seconds: float = Field(
        default=30.0, gt=0, description="A backend that does not answer in time gets 504."
    )
    max_idle_per_endpoint: int = Field(
        default=128, ge=0, description="Keep-alive connections kept open to one backend pod."
    )
    shadow_queue_size: int = Field(
        default=256,
        ge=1,
        description="Mirrored requests waiting for a worker; beyond it they are dropped (and "
        "counted) so that shadow traffic can never slow production down.",
    )
    shadow_workers: int = Field(default=4, ge=1)
    shadow_timeout_seconds: float = Field(default=5.0, gt=0)
    watch_timeout_seconds: int = Field(
        default=290,
        ge=10,
        description="Server-side length of one watch; it is then resumed from the last "
        "resourceVersion, so a silently dead connection cannot hide changes for long.",
    )
    api_retry_max_seconds: float = Field(
        default=30.0, ge=1, description="Longest back-off between failed API reads."
    )
    drain_seconds: float = Field(
        default=5.0,
        ge=0,
        description="After SIGTERM the router still serves (readiness 503) this long, so "
        "endpoints drop the pod before it stops accepting connections.",
    )
    shutdown_grace_seconds: int = Field(
        default=20, ge=0, description="Then it waits this long for in-flight requests."
    )

    @property
    def listen_host(self) -> str:
        return self.bind_host or self.host
