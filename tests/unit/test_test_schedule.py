"""The order `make test` hands modules to its workers (tests/support/schedule.py)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from support.schedule import (
    LIVE_SECONDS,
    MODULE_SECONDS,
    UNIT_SECONDS,
    expected_seconds,
    longest_first,
)

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Item:
    nodeid: str


def test_live_modules_go_before_unit_modules_and_the_table_orders_the_longest_first() -> None:
    ids = [
        "tests/unit/test_a.py::test_one",
        "tests/unit/test_a.py::test_two[x]",
        "tests/e2e/test_loop.py::test_loop",
        "tests/integration/test_batch_prediction_live.py::test_batch",
        "tests/unit/test_b.py::test_one",
        "tests/integration/test_crds_live.py::test_one",
        "tests/integration/test_crds_live.py::test_two",
    ]
    ordered = [i.nodeid for i in longest_first([Item(n) for n in ids])]
    assert ordered == [
        "tests/integration/test_batch_prediction_live.py::test_batch",  # in the table
        "tests/e2e/test_loop.py::test_loop",  # live, collected first
        "tests/integration/test_crds_live.py::test_one",
        "tests/integration/test_crds_live.py::test_two",
        "tests/unit/test_a.py::test_one",
        "tests/unit/test_a.py::test_two[x]",
        "tests/unit/test_b.py::test_one",
    ]


def test_a_module_not_in_the_table_counts_as_its_tiers_typical_module() -> None:
    assert expected_seconds("tests/e2e/test_new.py") == LIVE_SECONDS
    assert expected_seconds("tests/integration/test_new_live.py") == LIVE_SECONDS
    assert expected_seconds("tests/unit/operator/test_new.py") == UNIT_SECONDS
    assert expected_seconds("tests/unit/test_catalog_concurrency.py") > UNIT_SECONDS


def test_every_module_in_the_table_exists() -> None:
    missing = [m for m in MODULE_SECONDS if not (REPO / m).is_file()]
    assert missing == []
