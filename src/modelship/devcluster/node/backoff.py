"""Restart decisions and crash-loop back-off, as the kubelet makes them."""

from __future__ import annotations


def should_restart(policy: str, exit_code: int) -> bool:
    if policy == "Always":
        return True
    if policy == "OnFailure":
        return exit_code != 0
    return False


def backoff_seconds(restarts: int, base: float, cap: float) -> float:
    """0 for the first restart, then base, 2*base, 4*base, ... capped (kubelet: 10s, 300s)."""
    if restarts == 0:
        return 0.0
    return float(min(cap, base * (2 ** min(restarts - 1, 16))))


# A container that ran this long before exiting starts its back-off from the beginning again.
BACKOFF_RESET_SECONDS = 600.0
