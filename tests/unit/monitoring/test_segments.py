"""Segments: names, encoding, the directory store, where segments go by default."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime
from pathlib import Path

import pytest

from modelship.catalog.errors import CatalogError, StorageError
from modelship.catalog.segments import (
    DirectorySegmentStore,
    SegmentName,
    decode_segment,
    default_store_uri,
    encode_segment,
    open_segment_store,
    segment_name,
    segments,
    writer_id,
)
from modelship.catalog.segments_oci import RegistrySegmentStore

WHEN = datetime(2026, 12, 7, 1, 2, 3, 456789, tzinfo=UTC)


def test_a_name_round_trips_and_is_an_oci_tag() -> None:
    name = segment_name("captures", writer_id("Iris-Prod-7f9c/x"), 12, WHEN)
    assert SegmentName.parse(name.text) == name
    assert name.text.startswith("captures-20261207T010203456789Z-iris-prod-7f9c-x-")
    assert len(name.text) <= 128 and name.text[0].isalnum()
    assert SegmentName.parse("latest") is None and SegmentName.parse("1") is None


def test_records_round_trip_and_damage_is_a_storage_error() -> None:
    records = [{"id": "r/0", "inputs": {"a": None, "b": "x"}, "proba": [0.25, 0.75]}, {"id": "r/1"}]
    assert decode_segment(encode_segment(records)) == records
    with pytest.raises(StorageError, match="not gzip"):
        decode_segment(b"plain text")
    with pytest.raises(StorageError, match="line 2 is not JSON"):
        decode_segment(gzip.compress(b'{"id": "a"}\n{broken\n'))
    with pytest.raises(StorageError, match="line 1 is not a JSON object"):
        decode_segment(gzip.compress(b"[1, 2]\n"))


def test_the_directory_store_lists_reads_and_deletes(tmp_path: Path) -> None:
    store = DirectorySegmentStore(tmp_path)
    early = segment_name("labels", "w", 1, WHEN)
    late = segment_name("labels", "w", 2, WHEN.replace(hour=5))
    store.write(late, encode_segment([{"id": "b"}]), {})
    store.write(early, encode_segment([{"id": "a"}]), {})
    (tmp_path / "labels" / "notes.txt").write_text("not a segment")
    assert store.names("captures") == []
    assert [records for _, records in segments(store, "labels")] == [[{"id": "a"}], [{"id": "b"}]]
    assert [n for n, _ in segments(store, "labels", since=WHEN.replace(hour=4))] == [late]
    store.delete(early)
    store.delete(early)  # deleting twice is fine: every replica applies retention
    assert store.names("labels") == [late]


def test_an_unwritable_directory_is_a_storage_error(tmp_path: Path) -> None:
    (tmp_path / "captures").write_text("a file, not a directory")
    with pytest.raises(StorageError, match="cannot write segment"):
        DirectorySegmentStore(tmp_path).write(segment_name("captures", "w", 1, WHEN), b"", {})


def test_default_store_is_beside_the_catalog() -> None:
    registry = default_store_uri("oci://reg:5000/cat?plain-http=true", "ml", "iris")
    assert registry == "oci://reg:5000/cat/ml/iris-capture?plain-http=true"
    assert default_store_uri("file:///data/catalog", "ml", "iris") == (
        "file:///data/catalog/ml/iris/.monitoring"
    )
    with pytest.raises(ValueError, match="model"):
        default_store_uri("/data", "ml", "../etc")


def test_store_uris() -> None:
    store = open_segment_store("oci://127.0.0.1:5000/ml/iris-capture?plain-http=true")
    assert isinstance(store, RegistrySegmentStore) and store.repo == "ml/iris-capture"
    assert isinstance(open_segment_store("file:///tmp/x"), DirectorySegmentStore)
    for bad in ("s3://bucket/x", "file://host/x", "oci://host", "oci://h/r?tls=no"):
        with pytest.raises(CatalogError):
            open_segment_store(bad)
