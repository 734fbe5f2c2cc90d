"""The order `make test` hands test modules to its two workers: the longest first.

`make test` runs `pytest -n 2 --dist loadfile --no-loadscope-reorder`: each worker takes the next
module in collection order when it is nearly out of work, and keeps up to two queued. By default
xdist would order the modules by their number of tests, which puts the one-test live modules
(minutes each: a whole training, testing and rollout) last; the session then ends with one
worker finishing a long module, or two queued behind it, while the other has nothing left.
Longest first, the last modules are short unit modules that fill both workers to the end.

Only the order depends on these figures, never a result: a module missing from the table counts
as its tier's typical module, and a stale figure costs minutes at most.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import PurePosixPath
from typing import Protocol, TypeVar

# Seconds a module takes on the two-core CI machine under `make test` (the other worker busy
# beside it), for the modules well above their tier's typical figure.
MODULE_SECONDS: dict[str, float] = {
    "tests/integration/test_gateway_traefik_live.py": 330,
    "tests/integration/test_webhook_certs_live.py": 225,
    "tests/integration/test_batch_prediction_live.py": 225,
    "tests/integration/test_typed_models_live.py": 145,
    "tests/integration/test_label_flip_live.py": 120,
    "tests/integration/test_categorical_drift_live.py": 130,
    "tests/integration/test_script_mode_oci_live.py": 120,
    "tests/integration/test_script_mode_live.py": 115,
    "tests/unit/test_catalog_concurrency.py": 60,
    "tests/unit/test_serving_typed_clients.py": 50,
    "tests/unit/test_serving_workers.py": 45,
    "tests/unit/test_router_grpc.py": 30,
    "tests/unit/test_serving_grpc.py": 30,
    "tests/unit/test_train_typed.py": 30,
    "tests/unit/test_boosters.py": 30,
}
# A live module starts the operator and waits on pods; a unit module runs in seconds.
LIVE_SECONDS = 90.0
UNIT_SECONDS = 5.0
LIVE_TIERS = ("integration", "e2e")


class Item(Protocol):
    @property
    def nodeid(self) -> str: ...


T = TypeVar("T", bound=Item)


def module_of(nodeid: str) -> str:
    """`tests/unit/test_x.py` of `tests/unit/test_x.py::test_y[z]`."""
    return nodeid.split("::", 1)[0]


def expected_seconds(module: str) -> float:
    """The table's figure, or the typical module of its tier (`tests/<tier>/...`)."""
    if module in MODULE_SECONDS:
        return MODULE_SECONDS[module]
    parts = PurePosixPath(module).parts
    return LIVE_SECONDS if len(parts) > 1 and parts[1] in LIVE_TIERS else UNIT_SECONDS


def longest_first(items: Sequence[T]) -> list[T]:
    """`items` with whole modules ordered by expected seconds, longest first; modules of equal
    figures, and the tests inside a module, keep their collection order."""
    position: dict[str, int] = {}
    for item in items:
        position.setdefault(module_of(item.nodeid), len(position))

    def key(item: T) -> tuple[float, int]:
        module = module_of(item.nodeid)
        return (-expected_seconds(module), position[module])

    return sorted(items, key=key)
