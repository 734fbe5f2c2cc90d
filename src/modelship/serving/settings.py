"""Settings of one inference server process.

One root object, read from `MODELSHIP_SERVING_*` environment variables when the process starts
(never at import) and passed explicitly everywhere else, so tests build it with keyword arguments
and two apps in one process never share configuration. Nested sections use `__` in variable
names, e.g. `MODELSHIP_SERVING_LIMITS__MAX_ROWS=500`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import AliasChoices, BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from modelship.contracts.serving import ServingEnv


class Limits(BaseModel):
    """Bounds that keep one client from taking the server down."""

    max_body_bytes: int = Field(
        default=4 * 1024 * 1024,
        ge=1024,
        description="Request bodies larger than this are refused with 413 before being read.",
    )
    max_rows: int = Field(default=1000, ge=1, description="Rows accepted in one request.")
    max_cell_bytes: int = Field(
        default=1024,
        ge=1,
        le=1024 * 1024,
        description="Longest categorical value (UTF-8 bytes) accepted in a request; a longer "
        "cell cannot be a category the model knows, and is refused naming its column.",
    )
    max_concurrency: int = Field(
        default=256,
        ge=1,
        description="Inference requests in flight; beyond it requests are shed with 503 "
        "instead of queueing without bound.",
    )


class Batching(BaseModel):
    """Adaptive batching: concurrent requests share one `predict` call off the event loop."""

    mode: Literal["auto", "on", "off"] = Field(
        default="on",
        description="on: always batch (measured fastest under concurrent load, even for a "
        "linear model: 7.1k vs 4.2k req/s at 32 connections on one core; a lone request for a "
        "model cheaper than inline_below_ms is predicted inline); off: predict inline "
        "on the event loop (lowest latency when requests rarely overlap); auto: batch only "
        "models whose single-row predict is slower than inline_below_ms (measured at load).",
    )
    inline_below_ms: float = Field(
        default=0.1,
        gt=0,
        description="Roughly the cost of handing a call to the worker thread and back; cheaper "
        "models gain nothing from batching.",
    )
    max_batch_rows: int = Field(default=256, ge=1)


class Drift(BaseModel):
    """How much live traffic the drift report is computed over."""

    window_rows: int = Field(
        default=10_000,
        ge=100,
        description="PSI compares the most recent ~window_rows rows with the reference profile.",
    )
    epsilon: float = Field(
        default=1e-4,
        gt=0,
        lt=0.01,
        description="Floor for bin proportions so empty bins give a finite PSI.",
    )


class ServingSettings(BaseSettings, ServingEnv):
    """Everything `python -m modelship.serving` needs to serve one catalog version.

    The fields the operator sets (model, version, digest, catalog, stage, port) come from the
    `ServingEnv` contract; the rest are the server's own.
    """

    model_config = SettingsConfigDict(
        env_prefix=ServingEnv.env_prefix,
        env_nested_delimiter="__",
        populate_by_name=True,
        extra="ignore",
    )

    host: str = "0.0.0.0"
    bind_host: str | None = Field(
        default=None,
        # The local dev node gives each pod its own loopback address and announces it in this
        # variable; it is not ours to prefix, so it is read under its own name.
        validation_alias=AliasChoices("bind_host", "MODELSHIP_BIND_HOST"),
    )
    shutdown_grace_seconds: int = Field(
        default=20, ge=0, description="How long SIGTERM waits for in-flight requests."
    )
    drain_seconds: float = Field(
        default=2.0,
        ge=0,
        description="After SIGTERM, readiness answers 503 while the server keeps accepting "
        "requests this long, for clients whose view of the endpoints is not yet updated; "
        "then it stops listening. preStop + drain + grace stay under the pod's "
        "terminationGracePeriodSeconds.",
    )
    worker_dir: str | None = Field(
        default=None,
        description="Set by the worker supervisor (workers.py) for its workers: the directory "
        "they share metrics (prometheus multiprocess files) and drift counts through; its "
        "presence also makes a worker bind its ports with SO_REUSEPORT.",
    )
    onnx: bool = Field(
        default=True,
        description="Serve models the compiled numpy path does not cover through ONNX Runtime "
        "when the optional extra (modelship[onnx]) is installed and the graph agrees with the "
        "estimator on the version's held-out rows.",
    )
    allow_pickle_artifacts: bool = Field(
        default=False,
        description="Load versions published before skops (model.joblib). Unpickling runs the "
        "file's code, so this is off unless an administrator vouches for the old catalog.",
    )
    feedback_token: SecretStr | None = Field(
        default=None,
        description="Bearer token of the feedback route (FEEDBACK_TOKEN_ENV in "
        "contracts/capture.py, filled from a Secret); unset closes the route (403).",
    )
    grpc_transport: Literal["h2", "grpcio"] = Field(
        default="h2",
        description="The gRPC server: h2 is ours (serving/h2, about a third of grpcio's CPU per "
        "unary call); grpcio is grpcio's asyncio server, the fallback.",
    )
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    limits: Limits = Field(default_factory=Limits)
    batching: Batching = Field(default_factory=Batching)
    drift: Drift = Field(default_factory=Drift)

    @property
    def listen_host(self) -> str:
        """The address to bind: the node's announced address wins over `host`."""
        return self.bind_host or self.host
