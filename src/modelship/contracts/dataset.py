"""The dataset probe pod's contract with the operator: its environment in, its digest out.

The operator reads no data (DESIGN.md), so whether a `file://` dataset changed is learnt from a
small Job in the Model's namespace that mounts the catalog volume, hashes the file and reports the
digest through its termination message, as the trainer reports its summary.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from modelship.contracts.env import PodEnvironment
from modelship.contracts.training import TERMINATION_MESSAGE_PATH, _Line


class DatasetProbeEnv(PodEnvironment):
    """What the operator tells a probe; every field is one environment variable."""

    env_prefix: ClassVar[str] = "MODELSHIP_DATASETPROBE_"

    uri: str | None = Field(default=None, description="The file:// dataset to hash.")
    termination_message_path: str = Field(
        default=TERMINATION_MESSAGE_PATH,
        description="Where the one-line JSON result goes (the pod's terminationMessagePath).",
    )


class DatasetProbeResult(_Line):
    """The digest of the file as read now, or why it could not be read."""

    digest: str | None = Field(default=None, description="sha256:... of the file's bytes.")
    error: str | None = Field(default=None, description="Why the file could not be hashed.")
