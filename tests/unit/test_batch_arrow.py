"""pyarrow's reader and writer in the batch worker give Python's numbers and Python's bytes.

Numbers: pyarrow's text-to-float64 cast (what a plain window's numeric feature goes through)
must accept only text Python's `float` reads, and give the very same double; fuzzed. The
server must decode a window read by pyarrow exactly as it decodes the same cells sent as text
(untyped and typed, missing vocabulary included). Writing: floats spelled by `float_texts` must
be `repr`'s spelling at every magnitude, and CSV lines joined by pyarrow the csv module's bytes.
Which reader read an input is checked, so these tests cannot pass on the Python path alone.
"""

from __future__ import annotations

import math
import random
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from modelship.batch import arrow, rows, stream
from modelship.batch.rows import Layout, Parsing, Scored
from modelship.serving import codec, typed_codec
from modelship.serving.errors import InvalidInputError
from modelship.serving.typed_codec import FeatureSchema
from modelship.training.datasets import HttpLimits

LIMITS = HttpLimits(1 << 30, 60.0)
SPECIAL = [
    "1", " 1", "1 ", "+1", "-1", "1.", ".5", ".", "1e5", "1e", "e5", "1_0", "nan", "NaN", "-nan",
    "+nan", "inf", "-inf", "Infinity", "infinity", "INF", "+inf", "infinit", "0x10", "1e400",
    "-1e400", "1e-400", "00012", "1e+05", "1E5", "", "-", "+", "1d5", "\u0661", "1.5e-320",
    "0.1e-9999", "9" * 400, "." + "9" * 400, "1e-", "--1", "+-1", "1\x00",
    "4.9406564584124654e-324", "2.2250738585072011e-308", "0.1000000000000000055511151231257827",
]  # fmt: skip


def same_double(a: float, b: float) -> bool:
    return struct.pack("d", a) == struct.pack("d", b) or (math.isnan(a) and math.isnan(b))


def test_pyarrow_casts_only_what_float_reads_and_to_the_same_double() -> None:
    rng = random.Random(3)
    alphabet = "0123456789.eE+-_ naifyNItT\t"
    texts = list(SPECIAL)
    texts += ["".join(rng.choices(alphabet, k=rng.randint(1, 8))) for _ in range(20_000)]
    texts += [repr(rng.uniform(-1e3, 1e3))[: rng.randint(1, 22)] for _ in range(5_000)]
    texts += [f"{rng.random()}e{rng.randint(-330, 310)}" for _ in range(5_000)]
    cast = 0
    for text in texts:
        try:
            got = pc.cast(pa.array([text]), pa.float64())[0].as_py()
        except pa.ArrowInvalid:
            continue
        cast += 1
        assert same_double(got, float(text)), text  # float raising fails the test too
    assert cast > 10_000  # the cast did take most numbers


def test_float_texts_are_reprs_spelling() -> None:
    rng = np.random.default_rng(5)
    edges = [1e-4, 1e10, 1.0, 0.5, 0.1]
    values = np.concatenate(
        [
            rng.random(20_000),
            rng.random(20_000) ** 12,
            10 ** rng.uniform(-6, 12, 20_000) * rng.choice([-1, 1], 20_000),
            np.frombuffer(rng.bytes(8 * 20_000), dtype=np.float64),
            np.arange(-5, 5, dtype=np.float64),
            [np.nextafter(e, d) for e in edges for d in (0.0, 1e300)],
            edges,
            [0.0, -0.0, math.nan, math.inf, -math.inf, 5e-324, 1.7976931348623157e308],
        ]
    )
    got = arrow.float_texts(values).to_pylist()
    assert got == list(map(float.__repr__, values.tolist()))


def write(tmp_path: Path, columns: dict[str, list[str]]) -> Path:
    names = list(columns)
    lines = [",".join(names)] + [",".join(row) for row in zip(*columns.values(), strict=True)]
    path = tmp_path / "window.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def outcome(decode: Any) -> Any:
    try:
        return ("ok", decode())
    except InvalidInputError as error:
        return ("refused", error.message)


CELLS = ["1", " 2.5 ", "-0", "1_000", "1e3", "nan", "inf", "", "NA", "-999", "abc", "+4"]
CELLS.append("\u0661\u0662")  # Arabic-Indic digits: `float` reads them


@pytest.mark.parametrize("seed", range(40))
def test_a_pyarrow_window_decodes_as_the_server_decodes_its_text(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    plain = ["0.5", "3", "-2.25", "7e-3", "-999"]
    pool = plain * 3 + CELLS if seed % 3 else plain  # every third window all plain numbers
    n = 8
    path = write(tmp_path, {
        "a": [rng.choice(pool) for _ in range(n)],
        "b": [rng.choice(pool) for _ in range(n)],
        "city": [rng.choice(["x", " y", "", "NA"]) for _ in range(n)],
    })  # fmt: skip
    window = stream.read_window(path.as_uri(), LIMITS, 0, n)
    assert isinstance(window.columns, arrow.TextColumns)
    text = {name: window.columns[name] for name in window.header}  # the cells as `str`

    untyped = Parsing(frozenset({"a", "b"}), frozenset())
    for start, stop in [(0, n), (2, 5)]:
        as_text = rows.request_document(text, ["a", "b"], start, stop, proba=False)
        fresh = stream.read_window(path.as_uri(), LIMITS, 0, n)
        parsed = rows.request_document(fresh.columns, ["a", "b"], start, stop, proba=False,
                                       parsing=untyped)  # fmt: skip
        if seed % 3 == 0:
            assert [i["datatype"] for i in parsed["inputs"]] == ["FP64", "FP64"]
            assert isinstance(fresh.columns, arrow.TextColumns)
            assert not fresh.columns._cells  # no `str` made for a numeric column
        want = outcome(lambda: codec.decode_v2(as_text, ["a", "b"], True, 100).rows)  # noqa: B023
        got = outcome(lambda: codec.decode_v2(parsed, ["a", "b"], True, 100).rows)  # noqa: B023
        assert got[0] == want[0] and (
            got[1] == want[1] if got[0] == "refused" else np.array_equal(got[1], want[1])
        ), (text, got, want)

    schema = FeatureSchema(
        ("a", "b", "city"), frozenset({"city"}), frozenset({"", "NA", "-999"}), 64
    )
    typed = Parsing(frozenset({"a", "b"}), schema.missing)
    features = list(schema.names)
    as_text = rows.request_document(text, features, 0, n, proba=True)
    parsed = rows.request_document(window.columns, features, 0, n, proba=True, parsing=typed)
    want = outcome(lambda: typed_codec.decode_v2(as_text, schema, True, 100).columns)
    got = outcome(lambda: typed_codec.decode_v2(parsed, schema, True, 100).columns)
    assert got[0] == want[0], (text, got, want)
    if got[0] == "refused":
        assert got[1] == want[1]
    else:
        for name in features:
            assert np.array_equal(got[1][name], want[1][name], equal_nan=name != "city"), name


def test_a_missing_marker_keeps_a_numeric_column_text(tmp_path: Path) -> None:
    path = write(tmp_path, {"a": ["1", "2", "-999", "4"]})
    window = stream.read_window(path.as_uri(), LIMITS, 0, 4)
    assert isinstance(window.columns, arrow.TextColumns)
    assert window.columns.numbers("a", frozenset({"-999"})) is None
    numbers = window.columns.numbers("a", frozenset())
    assert numbers is not None and numbers.tolist() == [1.0, 2.0, -999.0, 4.0]


@pytest.mark.parametrize(
    "data",
    [b'id,x\n"a",1\n', b"id,x\na,1\rb,2\n", b"id,x\na,1\n\x00,2\n", b'"id",x\na,1\n'],
)
def test_what_pyarrow_cannot_take_is_read_by_the_csv_module(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "odd.csv"
    path.write_bytes(data)
    window = stream.read_window(path.as_uri(), LIMITS, 0, 10)
    assert not isinstance(window.columns, arrow.TextColumns)
    assert window.header == ["id", "x"] and window.rows >= 1


@pytest.mark.parametrize("include_proba", [True, False])
def test_lines_joined_by_pyarrow_are_the_csv_modules_bytes(
    monkeypatch: pytest.MonkeyPatch, include_proba: bool
) -> None:
    rng = np.random.default_rng(9)
    n = 500
    specials = np.array([0.0, 1.0, 1e-5, 0.5, 9.99e-5, 1e-4, 0.3333333333333333, 1e-300])
    proba = np.concatenate([rng.random(n - len(specials)), specials])
    blocks = [np.column_stack([proba, 1 - proba])[:200], np.column_stack([proba, 1 - proba])[200:]]
    layout = Layout(("note",), True, ("no", "yes") if include_proba else ())
    ids = [f"r{i}" for i in range(n)]
    passthrough = {"note": np.array([f"n {i} é" for i in range(n)], dtype=object)}
    labels = rng.integers(-2, 3, n).tolist()
    scored = Scored(list(range(n)), labels, [] if include_proba else None, [], blocks)
    expected = rows.render_rows(layout, scored, ids, passthrough, 7, "csv")

    def refuse(*args: Any) -> Any:
        raise AssertionError("the Python writer was used")

    monkeypatch.setattr(rows, "render_rows", refuse)
    monkeypatch.setattr(rows, "_columns", refuse)
    assert rows.render(layout, scored, ids, passthrough, 7, "csv") == expected
