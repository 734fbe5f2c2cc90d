"""Which catalog version a Deployment asks for, read from its Model's status (pure).

`resolve_version` answers with the version and digest, or with a typed reason why there is none,
so decisions read the reason, never the words of the message.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from modelship.api.v1alpha1 import ModelStatus, VersionRef


class Unavailable(Enum):
    """Why the requested version cannot be deployed."""

    NO_VERSION_YET = "NoVersionYet"  # waiting: the Model will produce one
    GATES_FAILED = "GatesFailed"  # final for this spec: the version failed its quality gates
    UNKNOWN_VERSION = "UnknownVersion"  # final for this spec: the Model never had it

    @property
    def final(self) -> bool:
        """Whether only a change of spec.version can help (the Deployment has failed)."""
        return self is not Unavailable.NO_VERSION_YET


@dataclass(frozen=True)
class NoVersion:
    reason: Unavailable
    message: str


def resolve_version(requested: str, model: ModelStatus) -> VersionRef | NoVersion:
    """The version and digest `requested` ('latest' or a number) names, or why there is none."""
    if requested == "latest":
        latest = model.latest_version
        if latest is None:
            return NoVersion(
                Unavailable.NO_VERSION_YET, "the Model has no version that passed its gates yet"
            )
        return VersionRef(version=latest.version, digest=latest.digest, artifact=latest.artifact)
    wanted = int(requested)
    for entry in model.versions:
        if entry.version == wanted:
            if not entry.passed_gates:
                return NoVersion(
                    Unavailable.GATES_FAILED, f"version {wanted} failed its quality gates"
                )
            return VersionRef(version=wanted, digest=entry.digest, artifact=entry.artifact)
    if model.latest_version is not None and model.latest_version.version == wanted:
        latest = model.latest_version
        return VersionRef(version=wanted, digest=latest.digest, artifact=latest.artifact)
    return NoVersion(
        Unavailable.UNKNOWN_VERSION, f"version {wanted} is not among the Model's known versions"
    )
