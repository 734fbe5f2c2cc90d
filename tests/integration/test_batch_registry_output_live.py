"""The batch worker against a real Distribution registry as the catalog: no volume anywhere.

The version is pulled from the registry by manifest digest (as a scoring pod does), every part
and the output are pushed beside it, and the registry accepts the output manifest with the
version as its `subject`; `modelship catalog predictions` lists it under the version. Runs in
seconds: a registry process, no cluster.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from modelship.batch import steps
from modelship.batch.parts import shard_count
from modelship.batch.settings import BatchSettings
from modelship.catalog import OciCatalog, open_catalog
from modelship.catalog import predictions_oci as oci
from modelship.training import synthetic
from support.registry import LocalRegistry, local_registry
from support.serving import NAMESPACE
from support.typed import FEATURES, train_churn

pytestmark = pytest.mark.integration
ROWS, PER_SHARD = 120, 50


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRegistry]:
    with local_registry(tmp_path_factory.mktemp("registry")) as running:
        yield running


def test_a_run_writes_one_artifact_beside_its_version(
    registry: LocalRegistry, tmp_path: Path
) -> None:
    files = tmp_path / "files"
    files.mkdir()
    verified = train_churn(files, "churn", "hist_gradient_boosting", FEATURES)
    uri = registry.catalog_uri.replace("/modelship?", "/batch-live?")
    catalog = open_catalog(uri)
    assert isinstance(catalog, OciCatalog)
    catalog.pull_dir = tmp_path
    published = catalog.import_version(NAMESPACE, "churn", verified)
    table = synthetic.churn_table(ROWS, 11)
    del table["churned"]
    data = tmp_path / "score.csv"
    data.write_bytes(synthetic.to_csv({"cid": np.array([f"k{i}" for i in range(ROWS)]), **table}))

    def settings(**fields: Any) -> BatchSettings:
        return BatchSettings(**{
            "step": "shard", "name": "nightly", "namespace": NAMESPACE, "model_name": "churn",
            "version": published.version, "digest": published.digest, "approved": False,
            "artifact": catalog.artifact_uri(NAMESPACE, "churn", published.version),
            "catalog_root": uri, "input_uri": data.as_uri(), "id_column": "cid",
            "rows_per_shard": PER_SHARD, **fields,
        })  # fmt: skip

    planned = steps.plan(settings(step="plan"))
    shards = shard_count(ROWS, PER_SHARD)
    base = {"input_digest": planned.input_digest, "shards": shards}
    scored = [steps.shard(settings(shard_index=i, **base)) for i in range(shards)]
    assert [s.rows for s in scored] == [50, 50, 20] and not any(s.reused for s in scored)
    report = steps.assemble(settings(step="assemble", **base))
    assert report.ok and report.rows == ROWS, report.error

    repo = catalog.repository(NAMESPACE, "churn")
    reference, _, digest = report.output_ref.removeprefix("oci://").partition("@")
    assert reference == f"{registry.host}/{repo}"
    found = catalog.registry.get_manifest(repo, digest)
    assert found is not None
    manifest = found[0]
    assert manifest["subject"]["digest"] == catalog.registry.resolve(repo, "1")
    assert manifest["annotations"][oci.APPROVED] == "false"  # a backtest says so
    rows = b"".join(
        catalog.registry.fetch_blob(repo, layer["digest"]) for layer in manifest["layers"]
    )
    assert "sha256:" + hashlib.sha256(rows).hexdigest() == report.output_digest
    lines = rows.decode().splitlines()
    assert len(lines) == ROWS + 1 and [x.split(",")[0] for x in lines[1:4]] == ["k0", "k1", "k2"]

    # A shard scored again finds its part in the registry; versions are untouched.
    assert steps.shard(settings(shard_index=1, **base)).reused is True
    assert catalog.version_numbers(NAMESPACE, "churn") == [published.version]
    listed = subprocess.run(
        [sys.executable, "-m", "modelship.cli", "catalog", "predictions", "--root", uri,
         NAMESPACE, "churn", "--version", str(published.version), "--json"],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    [entry] = json.loads(listed.stdout)
    assert entry["reference"] == report.output_ref and entry["approved"] is False
    assert entry["output"]["digest"] == report.output_digest and entry["rows"] == ROWS
