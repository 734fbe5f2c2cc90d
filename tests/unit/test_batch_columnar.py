"""The batch worker's column-at-a-time shortcuts give what the cell-at-a-time way gives.

Reading: blocks without quotes are split with `str.split`; the rows must be those `csv.reader`
reads (the reference below is the reader the worker had before), over random tables with
quotes, commas, line ends of every kind, blank lines and a BOM, read in tiny blocks so every
boundary is crossed. Decoding: numeric text parsed as one FP64 array must decode (untyped and
typed, missing vocabulary included) to what the server makes of the same text as BYTES, and
refuse what it refuses with the same reason. Writing: lines built a column at a time must be
the csv and json modules' bytes.
"""

from __future__ import annotations

import csv
import io
import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from modelship.batch import arrow, rows, stream
from modelship.batch.rows import Layout, Parsing, Scored
from modelship.serving import codec, typed_codec
from modelship.serving.errors import InvalidInputError
from modelship.serving.typed_codec import FeatureSchema
from modelship.training.datasets import HttpLimits
from modelship.training.errors import BadInput

LIMITS = HttpLimits(1 << 30, 60.0)
PIECES = ["a", "b", "7", "-1.5", " x ", ",", '"', "\n", "\r\n", "\r", "é", "", "\t", "\x00"]


def reference(data: bytes) -> tuple[list[str], list[list[str]]]:
    """Header and rows as `csv.reader` reads the stream (the worker's reader before blocks)."""
    reader = csv.reader(io.StringIO(data.decode("utf-8-sig"), newline=""))
    header = [name.strip() for name in next(reader)]
    body = []
    for fields in reader:
        if not fields:
            continue
        if len(fields) != len(header):
            raise BadInput(
                "InvalidDataset",
                f"line {reader.line_num} has {len(fields)} fields, the header has {len(header)}",
            )
        body.append(fields)
    return header, body


def random_table(seed: int, *, plain: bool) -> bytes:
    """A table written by the csv module (quoting what needs it), blank lines between rows."""
    rng = random.Random(seed)
    pieces = [*PIECES[:5], "é", ""] if plain else PIECES
    width = rng.randint(1, 4)
    out = io.StringIO(newline="")
    if rng.random() < 0.3:
        out.write("\ufeff")
    terminator = rng.choice(["\n", "\r\n"] if plain else ["\n", "\r\n", "\r"])
    writer = csv.writer(out, lineterminator=terminator)
    writer.writerow([f"c{i}" for i in range(width)])
    for _ in range(rng.randint(1, 40)):
        cells = ["".join(rng.choices(pieces, k=rng.randint(0, 3))) for _ in range(width)]
        if width == 1 and not cells[0]:
            cells = ["z"]  # a lone empty cell is a blank line to the reader
        writer.writerow(cells)
        if rng.random() < 0.1:
            out.write(terminator)
    text = out.getvalue()
    if rng.random() < 0.5:
        text = text.rstrip("\r\n")
    return text.encode()


@pytest.mark.parametrize("chars", [1, 7, 64, 1 << 15])
@pytest.mark.parametrize("plain", [True, False])
def test_windows_are_the_rows_csv_reader_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chars: int, plain: bool
) -> None:
    monkeypatch.setattr(stream, "_TEXT_CHARS", chars)
    monkeypatch.setattr(arrow, "BLOCK_BYTES", chars)  # pyarrow's blocks cross every boundary too
    for seed in range(40):
        data = random_table(seed, plain=plain)
        path = tmp_path / f"{seed}.csv"
        path.write_bytes(data)
        try:
            header, body = reference(data)
        except BadInput as refused:  # the writer wrote a row the reader splits otherwise
            with pytest.raises(BadInput) as also:
                stream.scan(path.as_uri(), LIMITS)
            assert also.value.message == refused.message, (seed, data)
            continue
        planned = stream.scan(path.as_uri(), LIMITS)
        assert (planned.header, planned.total_rows) == (header, len(body)), (seed, data)
        for start, stop in [(0, 1), (0, len(body)), (1, 5), (len(body) - 2, len(body) + 3)]:
            window = stream.read_window(path.as_uri(), LIMITS, max(start, 0), stop)
            want = body[max(start, 0) : stop]
            got = [[str(window.columns[n][i]) for n in header] for i in range(window.rows)]
            assert got == want, (seed, start, stop, data)


def test_a_plain_table_never_meets_the_csv_module(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: Any) -> Any:
        raise AssertionError("the csv module's path was taken")

    monkeypatch.setattr(stream, "_parsed", refuse)
    monkeypatch.setattr(stream, "_TEXT_CHARS", 16)
    path = tmp_path / "plain.csv"
    path.write_bytes(b"id,x\r\n" + b"".join(f"r{i},{i}.5\r\n\n".encode() for i in range(50)))
    window = stream.read_window(path.as_uri(), LIMITS, 10, 13)
    assert window.columns["id"].tolist() == ["r10", "r11", "r12"]
    assert window.columns["x"].tolist() == ["10.5", "11.5", "12.5"]


@pytest.mark.parametrize("quoted", [False, True])
@pytest.mark.parametrize("chars", [5, 1 << 15])
def test_a_short_row_is_named_by_its_line_unless_the_window_ends_before_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, quoted: bool, chars: int
) -> None:
    monkeypatch.setattr(stream, "_TEXT_CHARS", chars)
    lines = ["id,x", *(f"r{i},{i}" for i in range(8)), "", "r8", "r9,9"]
    if quoted:
        lines[3] = 'r2,"2"'
    data = ("\n".join(lines) + "\n").encode()
    path = tmp_path / "short.csv"
    path.write_bytes(data)
    with pytest.raises(BadInput) as refused:
        reference(data)
    assert "line 11 has 1 fields, the header has 2" in refused.value.message
    with pytest.raises(BadInput, match="line 11 has 1 fields, the header has 2"):
        stream.scan(path.as_uri(), LIMITS)
    window = stream.read_window(path.as_uri(), LIMITS, 2, 8)
    assert window.columns["id"].tolist() == [f"r{i}" for i in range(2, 8)]


CELLS = ["1", " 2.5 ", "-0", "1_000", "1e3", "nan", "inf", "", "NA", "-999", "abc", "1\x00", "١٢"]


def chunk(seed: int, n: int = 6) -> dict[str, np.ndarray]:
    rng = random.Random(seed)
    plain = ["0.5", "3", "-2.25", "7e-3"]
    pool = plain * 3 + CELLS if seed % 3 else plain  # every third chunk all plain numbers
    return {
        name: np.array([rng.choice(pool) for _ in range(n)], dtype=object) for name in ("a", "b")
    } | {"city": np.array([rng.choice(["x", " y", "", "NA"]) for _ in range(n)], dtype=object)}


def outcome(decode: Any) -> Any:
    try:
        return ("ok", decode())
    except InvalidInputError as error:
        return ("refused", error.message)


@pytest.mark.parametrize("seed", range(60))
def test_numeric_text_decodes_as_the_server_decodes_it_as_bytes(seed: int) -> None:
    columns = chunk(seed)
    untyped = Parsing(frozenset({"a", "b"}), frozenset())
    as_text = rows.request_document(columns, ["a", "b"], 0, 6, proba=False)
    parsed = rows.request_document(columns, ["a", "b"], 0, 6, proba=False, parsing=untyped)
    if seed % 3 == 0:
        assert [i["datatype"] for i in parsed["inputs"]] == ["FP64", "FP64"]
    want = outcome(lambda: codec.decode_v2(as_text, ["a", "b"], True, 100).rows)
    got = outcome(lambda: codec.decode_v2(parsed, ["a", "b"], True, 100).rows)
    assert got[0] == want[0] and (
        got[1] == want[1] if got[0] == "refused" else np.array_equal(got[1], want[1])
    ), (columns, got, want)

    schema = FeatureSchema(
        ("a", "b", "city"), frozenset({"city"}), frozenset({"", "NA", "-999"}), 64
    )
    typed = Parsing(frozenset({"a", "b"}), schema.missing)
    features = list(schema.names)
    as_text = rows.request_document(columns, features, 0, 6, proba=True)
    parsed = rows.request_document(columns, features, 0, 6, proba=True, parsing=typed)
    want = outcome(lambda: typed_codec.decode_v2(as_text, schema, True, 100).columns)
    got = outcome(lambda: typed_codec.decode_v2(parsed, schema, True, 100).columns)
    assert got[0] == want[0], (columns, got, want)
    if got[0] == "refused":
        assert got[1] == want[1]
    else:
        for name in features:
            assert np.array_equal(got[1][name], want[1][name], equal_nan=name != "city"), name


def scored(seed: int, kind: str) -> tuple[Layout, Scored, list[str], dict[str, np.ndarray]]:
    rng = random.Random(seed)
    n = rng.randint(0, 12)
    special = seed % 2 == 1  # odd seeds: cells the csv module quotes

    def text() -> str:
        pieces = ["a", "1", " ", "é", "\u2028"] + (
            [",", '"', "\n", "\r", "\x00"] if special else []
        )
        return "".join(rng.choices(pieces, k=rng.randint(0, 4)))

    labels: list[Any] = {
        "int": lambda: [rng.randint(-3, 3) for _ in range(n)],
        "str": lambda: [text() for _ in range(n)],
        "float": lambda: [rng.choice([0.1, -2.5, 1e300, float("nan")]) for _ in range(n)],
        "bool": lambda: [rng.random() < 0.5 for _ in range(n)],
    }[kind]()
    classes = ("no", "yes") if kind != "float" else ()
    proba = [[rng.random(), rng.random()] for _ in range(n)] if classes else None
    positions = sorted(rng.sample(range(20), n))
    ids = [text() for _ in range(20)]
    passthrough = {
        "note": np.array([text() for _ in range(20)], dtype=object),
        "amount": np.array([rng.choice([1.0, 2.5, 3]) for _ in range(20)], dtype=object),
    }
    layout = Layout(("note", "amount"), True, classes)
    return layout, Scored(positions, labels, proba, []), ids, passthrough


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
@pytest.mark.parametrize("kind", ["int", "str", "float", "bool"])
def test_lines_built_by_column_are_the_csv_and_json_modules_bytes(fmt: str, kind: str) -> None:
    for seed in range(30):
        layout, result, ids, passthrough = scored(seed, kind)
        got = rows.render(layout, result, ids, passthrough, 7, fmt)
        assert got == rows.render_rows(layout, result, ids, passthrough, 7, fmt), (seed, got)
        if fmt == "jsonl":
            for line, position in zip(got.decode().splitlines(), result.rows, strict=True):
                assert json.loads(line)["id"] == ids[position]


def test_plain_chunks_are_written_by_column(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any) -> Any:
        raise AssertionError("the row-by-row writer was used")

    seed = next(s for s in range(0, 40, 2) if scored(s, "int")[1].rows)  # even: plain cells
    layout, result, ids, passthrough = scored(seed, "int")
    expected = rows.render_rows(layout, result, ids, passthrough, 7, "csv")
    monkeypatch.setattr(rows, "render_rows", refuse)
    assert rows.render(layout, result, ids, passthrough, 7, "csv") == expected
    assert rows.render(layout, result, ids, passthrough, 7, "jsonl")
