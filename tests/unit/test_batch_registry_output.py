"""The batch worker writing to the catalog registry: one artifact beside the version it came from.

The real registry client runs over an in-memory Distribution API (support.fake_registry); the
version is imported into it from a file catalog, so the output's `subject` is the version's own
manifest. The same run to a directory gives the same predictions bytes, which is what makes the
registry output checkable against the tested file path.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from modelship.batch import steps, targets
from modelship.batch.parts import shard_count
from modelship.batch.settings import BatchSettings
from modelship.catalog import IntegrityError, OciCatalog, open_catalog
from modelship.catalog import predictions_oci as oci
from modelship.training import synthetic
from modelship.training.errors import BadInput
from support.fake_registry import FakeRegistry
from support.serving import NAMESPACE
from support.typed import FEATURES, train_churn

ROWS = 90
PER_SHARD = 40
BAD_ROW = 45
REPO = f"models/{NAMESPACE}/churn"


@pytest.fixture(scope="module")
def version(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("batch-registry")
    verified = train_churn(root, "churn", "hist_gradient_boosting", FEATURES)
    table = synthetic.churn_table(ROWS, 7)
    del table["churned"]
    table["plan"][BAD_ROW] = "gold"
    columns = {"cid": np.array([f"c{i:03d}" for i in range(ROWS)]), **table}
    data = root / "score.csv"
    data.write_bytes(synthetic.to_csv(columns))
    return {"root": root, "verified": verified, "csv": data}


@pytest.fixture
def registry(
    version: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> tuple[FakeRegistry, OciCatalog]:
    """A registry holding the version (same digest, number 1); the worker's target opens it."""
    fake = FakeRegistry()
    catalog = OciCatalog(fake.client(), "models", "oci://registry.test/models")
    published = catalog.import_version(NAMESPACE, "churn", version["verified"])
    assert published.digest == version["verified"].metadata.digest
    monkeypatch.setattr(targets, "open_catalog", lambda root: catalog)
    return fake, catalog


def settings(version: dict[str, Any], **fields: Any) -> BatchSettings:
    metadata = version["verified"].metadata
    values: dict[str, Any] = {
        "step": "shard", "name": "nightly", "namespace": NAMESPACE, "model_name": "churn",
        "version": metadata.version, "digest": metadata.digest, "approved": True,
        "catalog_root": str(version["root"]), "input_uri": version["csv"].as_uri(),
        "id_column": "cid", "passthrough": ["city"], "output_dir": None,
        "rows_per_shard": PER_SHARD, "max_failed_rows": 1, "chunk_rows": 16,
    }  # fmt: skip
    values.update(fields)
    return BatchSettings(**values)


def run(version: dict[str, Any], **fields: Any) -> tuple[Any, list[Any]]:
    planned = steps.plan(settings(version, step="plan", **fields))
    base = {"input_digest": planned.input_digest, "shards": shard_count(ROWS, PER_SHARD), **fields}
    shards = [steps.shard(settings(version, shard_index=i, **base)) for i in range(base["shards"])]
    return steps.assemble(settings(version, step="assemble", **base)), shards


def pulled(fake: FakeRegistry, manifest: dict[str, Any], media: str) -> bytes:
    """The layers of `media`, concatenated in title order (what `oras pull` + `cat` gives)."""
    layers = sorted(
        (layer for layer in manifest["layers"] if layer["mediaType"] == media),
        key=lambda layer: layer["annotations"]["org.opencontainers.image.title"],
    )
    return b"".join(fake.blobs[(REPO, layer["digest"])] for layer in layers)


def test_the_output_is_an_artifact_naming_its_version(
    version: dict[str, Any], registry: tuple[FakeRegistry, OciCatalog], tmp_path: Path
) -> None:
    fake, _ = registry
    report, shards = run(version)
    assert report.ok, report.error
    assert len(shards) == 3 and report.rows == ROWS - 1 and report.error_rows == 1
    host, _, digest = report.output_ref.removeprefix("oci://").partition("@")
    assert host == f"registry.test/{REPO}" and report.errors_ref == report.output_ref
    manifest = json.loads(fake.manifests[(REPO, digest)])
    assert manifest["artifactType"] == oci.OUTPUT_ARTIFACT_TYPE
    notes = manifest["annotations"]
    metadata = version["verified"].metadata
    assert notes[oci.MODEL] == f"{NAMESPACE}/churn" and notes[oci.VERSION] == "1"
    assert notes[oci.DIGEST] == metadata.digest and notes[oci.APPROVED] == "true"
    assert notes[oci.ROWS] == str(ROWS - 1) and notes[oci.ERROR_ROWS] == "1"
    assert notes[oci.INPUT_DIGEST].startswith("sha256:")
    # The subject is the version's own manifest, so referrers of the version list the output.
    version_manifest = fake.tags[(REPO, "1")]
    assert manifest["subject"]["digest"] == version_manifest
    assert manifest["subject"]["size"] == len(fake.manifests[(REPO, version_manifest)])
    # The rows layers, concatenated, are the predictions file, whose digest status records.
    rows = pulled(fake, manifest, oci.ROWS_TYPES["csv"])
    assert "sha256:" + hashlib.sha256(rows).hexdigest() == report.output_digest
    assert rows.splitlines()[0].startswith(b"id,city,prediction,proba_")
    errors = [json.loads(x) for x in pulled(fake, manifest, oci.ERRORS_TYPE).splitlines()]
    assert [(e["row"], e["id"]) for e in errors] == [(BAD_ROW, f"c{BAD_ROW:03d}")]
    # The same run to a directory writes the very same predictions.
    on_disk, _ = run(version, output_dir=str(tmp_path))
    assert on_disk.output_digest == report.output_digest
    assert (tmp_path / "predictions.csv").read_bytes() == rows


def test_everything_a_version_predicted_is_listed(
    version: dict[str, Any], registry: tuple[FakeRegistry, OciCatalog]
) -> None:
    _, catalog = registry
    nightly, _ = run(version)
    backtest, _ = run(version, name="backtest", approved=False, format="jsonl")
    listed = catalog.prediction_outputs(NAMESPACE, "churn", version=1)
    # Oldest first: two runs in the same second are equally old, in either order.
    assert [x.manifest.created_at for x in listed] == sorted(x.manifest.created_at for x in listed)
    by_ref = {x.reference: x.manifest for x in listed}
    assert sorted(by_ref) == sorted([nightly.output_ref, backtest.output_ref])
    assert by_ref[nightly.output_ref].approved and not by_ref[backtest.output_ref].approved
    assert by_ref[backtest.output_ref].batch_prediction == f"{NAMESPACE}/backtest"
    assert by_ref[nightly.output_ref].output.digest == nightly.output_digest
    assert catalog.prediction_outputs(NAMESPACE, "churn", version=2) == []
    assert catalog.version_numbers(NAMESPACE, "churn") == [1]  # outputs are not versions


def test_a_missing_part_is_the_only_one_redone_and_assembling_twice_pushes_nothing(
    version: dict[str, Any], registry: tuple[FakeRegistry, OciCatalog]
) -> None:
    fake, _ = registry
    planned = steps.plan(settings(version, step="plan"))
    base = {"input_digest": planned.input_digest, "shards": 3}
    [steps.shard(settings(version, shard_index=i, **base)) for i in range(3)]
    part_tags = sorted(tag for (_, tag) in fake.tags if tag.startswith(oci.PART_TAG_PREFIX))
    assert len(part_tags) == 3
    del fake.tags[(REPO, part_tags[1])]  # the part of shard 1 is lost
    missing = steps.assemble(settings(version, step="assemble", **base))
    assert not missing.ok and missing.reason == "PartsMissing" and missing.missing_shards == [1]
    redone = [steps.shard(settings(version, shard_index=i, **base)) for i in range(3)]
    assert [s.reused for s in redone] == [True, False, True]
    first = steps.assemble(settings(version, step="assemble", **base))
    assert first.ok
    fake.requests.clear()
    again = steps.assemble(settings(version, step="assemble", **base))
    assert (again.output_ref, again.output_digest, again.rows) == (
        first.output_ref, first.output_digest, first.rows,
    )  # fmt: skip
    assert not [r for r in fake.requests if r.startswith(("PUT", "POST"))]


def test_a_part_the_registry_serves_changed_fails_assembly(
    version: dict[str, Any], registry: tuple[FakeRegistry, OciCatalog]
) -> None:
    fake, _ = registry
    planned = steps.plan(settings(version, step="plan"))
    base = {"input_digest": planned.input_digest, "shards": 3}
    reports = [steps.shard(settings(version, shard_index=i, **base)) for i in range(3)]
    assert all(r.ok for r in reports)
    tag = sorted(tag for (_, tag) in fake.tags if tag.startswith(oci.PART_TAG_PREFIX))[0]
    layer = json.loads(fake.manifests[(REPO, fake.tags[(REPO, tag)])])["layers"][0]
    fake.blobs[(REPO, layer["digest"])] += b"tampered\n"
    with pytest.raises(IntegrityError, match="does not match its digest"):
        steps.assemble(settings(version, step="assemble", **base))


def test_without_a_directory_the_catalog_must_be_a_registry(version: dict[str, Any]) -> None:
    planned = steps.plan(settings(version, step="plan"))
    with pytest.raises(BadInput) as refused:
        steps.shard(settings(version, shard_index=0, input_digest=planned.input_digest, shards=3))
    assert refused.value.reason == "OutputNotSupported"
    assert str(version["root"]) in refused.value.message


def test_file_catalog_lists_outputs_of_its_predictions_directory(
    version: dict[str, Any],
) -> None:
    root = version["root"]
    out = root / NAMESPACE / "churn" / "predictions" / "nightly"
    report, _ = run(version, output_dir=str(out))
    assert report.ok
    catalog = open_catalog(str(root))
    [listed] = catalog.prediction_outputs(NAMESPACE, "churn", version=1)
    assert listed.reference == out.as_uri() and listed.manifest.rows == ROWS - 1
    assert catalog.prediction_outputs(NAMESPACE, "churn", version=3) == []
