"""`builtin:churn_synthetic`: a small, seeded, mixed-type table the project ships as code.

Real tabular data has categories and gaps; scikit-learn's bundled datasets have neither. This
generator gives the samples, the docs and the tests one table with both, reproducible to the
byte (no download): 2,000 customers with numeric columns (age with 5 % missing, income, tenure),
categorical ones (city with 3 % missing, plan, has_card) and a churn label from a logistic rule
with an interaction, so a gate such as `roc_auc >= 0.75` is a real bar. Cells are text, as a CSV
gives them, so the same parsing path runs. `python -m modelship.training.synthetic out.csv`
writes it as a CSV (for file:// and http(s):// datasets); `--drifted` shifts the city mix.
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

NAME = "churn_synthetic"
TARGET = "churned"
ROWS = 2000
SEED = 20240611
CITIES = ("north", "south", "east", "west", "centre")
CITY_SHARES = (0.35, 0.25, 0.2, 0.12, 0.08)
DRIFTED_CITY_SHARES = (0.08, 0.12, 0.2, 0.25, 0.35)
PLANS = ("basic", "plus", "premium")


def churn_table(
    rows: int = ROWS, seed: int = SEED, *, drifted: bool = False
) -> dict[str, npt.NDArray[np.str_]]:
    """Columns of text cells ("" = missing), the target last."""
    rng = np.random.default_rng(seed)
    age = rng.integers(18, 80, rows)
    income = np.round(rng.lognormal(10.3, 0.5, rows), 2)
    tenure = rng.integers(0, 72, rows)
    city = rng.choice(len(CITIES), rows, p=DRIFTED_CITY_SHARES if drifted else CITY_SHARES)
    plan = rng.choice(len(PLANS), rows, p=(0.5, 0.3, 0.2))
    has_card = rng.random(rows) < 0.6
    logit = (
        1.8
        - 0.07 * tenure
        + 1.4 * (plan == 0)
        - 1.0 * (plan == 2)
        + 1.0 * (city == 1)
        - 0.8 * (city == 3)
        + 0.04 * (age - 45) * (plan == 0)  # older basic customers leave more: an interaction
        - 0.7 * has_card
        - 0.4 * (np.log(income) - 10.3)
    )
    churned = rng.random(rows) < 1 / (1 + np.exp(-logit))
    age_text = np.where(rng.random(rows) < 0.05, "", age.astype(str))
    city_text = np.where(rng.random(rows) < 0.03, "", np.asarray(CITIES)[city])
    return {
        "age": age_text,
        "income": np.array([f"{v:.2f}" for v in income]),
        "tenure": tenure.astype(str),
        "city": city_text,
        "plan": np.asarray(PLANS)[plan],
        "has_card": np.where(has_card, "yes", "no"),
        TARGET: churned.astype(int).astype(str),
    }


def to_csv(columns: dict[str, npt.NDArray[np.str_]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(zip(*(column.tolist() for column in columns.values()), strict=True))
    return out.getvalue().encode("utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m modelship.training.synthetic")
    parser.add_argument("output", help="CSV file to write ('-' for stdout)")
    parser.add_argument("--rows", type=int, default=ROWS)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--drifted", action="store_true", help="shift the city frequencies")
    args = parser.parse_args(argv)
    data = to_csv(churn_table(args.rows, args.seed, drifted=args.drifted))
    if args.output == "-":
        sys.stdout.buffer.write(data)
    else:
        with open(args.output, "wb") as out:
            out.write(data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
