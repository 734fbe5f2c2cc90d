"""From a table of named columns to the numeric matrix an estimator can fit.

Untyped features (a list of bare names, or none) must be numeric and complete, as they always
were: the trainer refuses a text column or a gap (with the column named) rather than encode it
in a way serving would have to guess. Typed features (`spec.dataset.features` objects) go through
`preprocess.py` instead, which fits a plan the version stores. The classification target may be
text; its labels become the version's classes.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from modelship.training.errors import BadInput

_MISSING = frozenset({"", "na", "n/a", "nan", "null", "none"})


@dataclass(frozen=True)
class Prepared:
    features: list[str]
    target: str
    x: npt.NDArray[np.float64]
    y: npt.NDArray[np.generic]
    classes: list[int | float | str] | None


def parse_csv(raw: bytes) -> dict[str, npt.NDArray[np.generic]]:
    """Parse CSV bytes with a header row into string columns."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BadInput("InvalidDataset", f"dataset is not UTF-8 text: {exc}") from exc
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except StopIteration:
        raise BadInput("InvalidDataset", "dataset is empty") from None
    except csv.Error as exc:
        raise BadInput("InvalidDataset", f"dataset is not valid CSV: {exc}") from exc
    header = [name.strip() for name in header]
    if any(not name for name in header):
        raise BadInput("InvalidDataset", "dataset header has an empty column name")
    if len(set(header)) != len(header):
        dupes = sorted({n for n in header if header.count(n) > 1})
        raise BadInput("InvalidDataset", f"dataset header repeats column(s) {', '.join(dupes)}")
    rows: list[list[str]] = []
    try:
        for row in reader:
            if not row:
                continue  # blank line, typically at the end of the file
            if len(row) != len(header):
                raise BadInput(
                    "InvalidDataset",
                    f"line {reader.line_num} has {len(row)} fields, the header has {len(header)}",
                )
            rows.append(row)
    except csv.Error as exc:
        raise BadInput("InvalidDataset", f"dataset is not valid CSV: {exc}") from exc
    if not rows:
        raise BadInput("InvalidDataset", "dataset has a header but no rows")
    cells = np.array(rows, dtype=object)
    return {name: cells[:, i] for i, name in enumerate(header)}


def prepare(
    columns: dict[str, npt.NDArray[np.generic]],
    target: str,
    features: list[str] | None,
    task: str,
) -> Prepared:
    """Select target and features, convert them, and refuse what cannot be trained on."""
    chosen = select(columns, target, features)
    x = np.column_stack([_numeric(name, columns[name], "feature") for name in chosen])
    y, classes = target_values(columns, target, task)
    return Prepared(features=list(chosen), target=target, x=x, y=y, classes=classes)


def rows_like(
    columns: dict[str, npt.NDArray[np.generic]], target: str, features: list[str], task: str
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.generic]]:
    """More rows (labelled production rows) converted exactly as `prepare` converts the
    dataset's, without the checks that concern a whole dataset (two classes at least)."""
    x = np.column_stack([_numeric(name, columns[name], "feature") for name in features])
    return x.reshape(len(columns[target]), len(features)), target_like(
        columns[target], target, task
    )


def target_like(column: npt.NDArray[np.generic], target: str, task: str) -> npt.NDArray[np.generic]:
    """A target column converted as `target_values` converts the dataset's."""
    return _numeric(target, column, "target") if task == "regression" else _labels(target, column)


def select(
    columns: dict[str, npt.NDArray[np.generic]], target: str, features: list[str] | None
) -> list[str]:
    """The feature columns to train on, refusing names the dataset does not have."""
    if target not in columns:
        raise BadInput(
            "InvalidDataset",
            f"target column {target!r} not in dataset (columns: {_names(list(columns))})",
        )
    chosen = features if features is not None else [n for n in columns if n != target]
    if unknown := [n for n in chosen if n not in columns]:
        raise BadInput(
            "InvalidDataset",
            f"feature column(s) {_names(unknown)} not in dataset "
            f"(columns: {_names(list(columns))})",
        )
    if target in chosen:
        raise BadInput("InvalidDataset", f"target column {target!r} is also listed as a feature")
    if len(set(chosen)) != len(chosen):
        raise BadInput("InvalidDataset", "a feature column is listed twice")
    if not chosen:
        raise BadInput("InvalidDataset", "no feature columns left besides the target")
    return chosen


def target_values(
    columns: dict[str, npt.NDArray[np.generic]], target: str, task: str
) -> tuple[npt.NDArray[np.generic], list[int | float | str] | None]:
    """The target column (numbers for regression, labels for classification) and the classes."""
    if task == "regression":
        y: npt.NDArray[np.generic] = _numeric(target, columns[target], "target")
        classes = None
    else:
        y = _labels(target, columns[target])
        classes = np.unique(y).tolist()
        if len(classes) < 2:
            raise BadInput(
                "InvalidDataset",
                f"target column {target!r} has a single class ({classes[0]!r}); "
                "classification needs at least two",
            )
    return y, classes


def _numeric(name: str, column: npt.NDArray[np.generic], role: str) -> npt.NDArray[np.float64]:
    try:
        # Fast path: numpy converts numeric strings in C; only a failure needs the slow scan below.
        values = np.asarray(column, dtype=np.float64)
    except (ValueError, TypeError):
        values = np.empty(len(column), dtype=np.float64)
        for row, cell in enumerate(column):
            text = str(cell).strip()
            if text.lower() in _MISSING:
                values[row] = np.nan
                continue
            try:
                values[row] = float(text)
            except ValueError:
                raise BadInput(
                    "InvalidDataset",
                    f"{role} column {name!r} is not numeric (data row {row + 1}: {text[:40]!r}); "
                    + (
                        "declare it in dataset.features as {name: ..., type: categorical}"
                        if role == "feature"
                        else "a regression target must be numbers"
                    ),
                ) from None
    missing = ~np.isfinite(values)
    if missing.any():
        raise BadInput(
            "InvalidDataset",
            f"{role} column {name!r} has {int(missing.sum())} missing or non-finite value(s) "
            f"(first at data row {int(np.argmax(missing)) + 1}); "
            + (
                "declare typed features (dataset.features objects) to impute them"
                if role == "feature"
                else "clean the dataset first"
            ),
        )
    return values


def _labels(name: str, column: npt.NDArray[np.generic]) -> npt.NDArray[np.generic]:
    """Class labels: integers when every label is an integer (e.g. "0"/"1"), else strings."""
    if column.dtype.kind in "biu":
        return column
    texts = [str(cell).strip() for cell in column]
    if empty := [i for i, text in enumerate(texts) if text.lower() in _MISSING]:
        raise BadInput(
            "InvalidDataset",
            f"target column {name!r} has {len(empty)} missing value(s) "
            f"(first at data row {empty[0] + 1})",
        )
    try:
        numbers = np.array([float(text) for text in texts])
    except ValueError:
        return np.array(texts, dtype=str)
    if np.all(np.isfinite(numbers)) and np.all(numbers == np.round(numbers)):
        return numbers.astype(np.int64)
    return np.array(texts, dtype=str)


def _names(names: list[str]) -> str:
    shown = ", ".join(repr(n) for n in names[:20])
    return shown + (f" and {len(names) - 20} more" if len(names) > 20 else "")
