"""Trainer failures, split by what the operator should do about them.

The TrainingJob controller reads the pod's exit code: bad input (2) fails the TrainingJob at once,
because running the same snapshot again gives the same answer; a transient failure (1) is retried
up to `training.maxAttempts`. The `reason` (CamelCase) becomes the condition's reason.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_TRANSIENT = 1
EXIT_BAD_INPUT = 2


class TrainerError(Exception):
    """A failure the trainer understands, with a condition reason and an exit code."""

    exit_code = EXIT_TRANSIENT

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class BadInput(TrainerError):  # noqa: N818 - reads as the category it is, like the exit code
    """The snapshot, configuration or data is wrong: do not retry."""

    exit_code = EXIT_BAD_INPUT


class Transient(TrainerError):  # noqa: N818 - reads as the category it is, like the exit code
    """Something outside the input failed (network, storage): retrying may succeed."""

    exit_code = EXIT_TRANSIENT
