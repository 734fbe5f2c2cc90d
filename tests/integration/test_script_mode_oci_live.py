"""Script mode on the local cluster with the module as an OCI artifact in the catalog registry.

The sample module (manifests/samples/script-mode) is pushed to the cluster's registry as a
one-layer artifact, the way `oras push` would, and a Model pins its manifest by digest: the
TrainingJob's prepare container fetches it with the catalog's own registry client, checks every
byte, and the version records the digest of exactly those bytes. An artifact that is not there,
one whose layer changed in the registry's storage, and one with two layers each fail their
TrainingJob once with the reason that names what happened, never retried as a cluster fault.
"""

from __future__ import annotations

import copy
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from modelship.catalog import OciCatalog, open_catalog
from modelship.catalog.digests import digest_bytes
from modelship.catalog.oci_layout import EMPTY, EMPTY_TYPE, TITLE, descriptor
from modelship.catalog.registry import MANIFEST_TYPE, Registry
from modelship.devcluster.cluster import DevCluster
from modelship.operator.kube.client import Kube
from modelship.operator.kube.resources import JOBS, MODELS, TRAINING_JOBS, Resource
from support.live import condition, wait_for_status
from support.operator import OperatorProcess, running_operator

pytestmark = pytest.mark.integration

SAMPLE = Path(__file__).parents[2] / "manifests" / "samples" / "script-mode"
CODE_ARTIFACT = "application/vnd.modelship.training-code.v1"
PYTHON = "text/x-python"


@pytest.fixture(scope="module")
def catalog_uri(dev_cluster: DevCluster) -> str:
    return dev_cluster.catalog_uri


@pytest.fixture(scope="module")
def operator(
    cluster_kubeconfig: Path, catalog_uri: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    """The operator as a local process with the cluster's registry as its catalog."""
    yield from running_operator(cluster_kubeconfig, tmp_path_factory, catalog_uri=catalog_uri)


@pytest.fixture
def registry(catalog_uri: str) -> Iterator[Registry]:
    """The catalog's own registry client (the one the prepare container fetches with)."""
    catalog = open_catalog(catalog_uri)
    assert isinstance(catalog, OciCatalog)
    yield catalog.registry
    catalog.registry.close()


def sample(name: str) -> dict[str, Any]:
    body: dict[str, Any] = yaml.safe_load((SAMPLE / name).read_text())
    return body


def sample_module() -> bytes:
    module: str = sample("configmap-train.yaml")["data"]["train.py"]
    return module.encode()


def push_module(registry: Registry, repo: str, tag: str, *layers: bytes) -> str:
    """Push `layers` as one artifact (as `oras push repo:tag train.py` does); its digest."""
    registry.push_blob(repo, EMPTY)
    for layer in layers:
        registry.push_blob(repo, layer)
    manifest = {
        "schemaVersion": 2,
        "mediaType": MANIFEST_TYPE,
        "artifactType": CODE_ARTIFACT,
        "config": descriptor(EMPTY_TYPE, EMPTY),
        "layers": [descriptor(PYTHON, layer, **{TITLE: "train.py"}) for layer in layers],
    }
    return registry.put_manifest(repo, tag, manifest)


def code_model(name: str, repo: str, digest: str) -> dict[str, Any]:
    """The sample Model with its code pinned in the registry instead of a ConfigMap."""
    body = copy.deepcopy(sample("model-cancer.yaml"))
    body["metadata"]["name"] = name
    code = body["spec"]["training"]["code"]
    del code["configMap"]
    code["oci"] = {"repository": repo, "digest": digest}
    body["spec"]["training"]["maxAttempts"] = 3  # a cluster fault would be retried
    return body


def training_jobs(kube: Kube, namespace: str, model: str) -> list[dict[str, Any]]:
    return [
        t for t in kube.list(TRAINING_JOBS, namespace) if t["spec"]["modelRef"]["name"] == model
    ]


def blob_file(dev_cluster: DevCluster, digest: str) -> Path:
    """Where the local registry's filesystem storage keeps a blob's bytes."""
    hexdigest = digest.removeprefix("sha256:")
    blobs = dev_cluster.dev_dir / "registry/docker/registry/v2/blobs/sha256"
    return blobs / hexdigest[:2] / hexdigest / "data"


@pytest.mark.timeout(900)
def test_the_sample_module_pinned_in_the_registry_trains_a_version(
    operator: OperatorProcess, kube: Kube, namespace: str, registry: Registry, catalog_uri: str
) -> None:
    module = sample_module()
    repo = f"scripts/{namespace}/cancer-train"
    digest = push_module(registry, repo, "v1", module)
    kube.create(MODELS, namespace, code_model("cancer", repo, digest))

    status = wait_for_status(
        kube, MODELS, namespace, "cancer", lambda s: s.get("latestVersion"), 600,
        describe=operator.tail,
    )  # fmt: skip
    (tj,) = training_jobs(kube, namespace, "cancer")
    tj_status = tj["status"]
    assert tj_status["phase"] == "Succeeded", tj_status
    if tj_status["attempts"] != 1:
        # A cluster fault (the kind an attempt is retried for) on a busy machine, not the
        # code's: it must still train, and what failed is said in the test report.
        events = kube.list(Resource("", "v1", "events", "Event"), namespace)
        failed = [e["message"] for e in events if e.get("reason") == "AttemptFailed"]
        warnings.warn(f"{tj['metadata']['name']} was retried: {failed}", stacklevel=1)
    # the digest of the module's bytes (the layer), not of the manifest that pinned it
    assert tj_status["codeDigest"] == digest_bytes(module) != digest
    assert all(g["passed"] for g in tj_status["gates"]), tj_status["gates"]
    assert status["latestVersion"]["version"] == tj_status["version"] == 1
    assert condition(status, "Ready")["status"] == "True"

    # the version's lineage names the pinned artifact and the module's digest
    catalog = open_catalog(catalog_uri)
    params = catalog.get(namespace, "cancer", 1).algorithm.params
    assert params["source"] == f"oci:{repo}@{digest}"
    assert params["codeDigest"] == digest_bytes(module)


@pytest.mark.timeout(900)
def test_bad_artifacts_fail_once_with_the_named_reason(
    operator: OperatorProcess,
    kube: Kube,
    namespace: str,
    registry: Registry,
    dev_cluster: DevCluster,
) -> None:
    repo = f"scripts/{namespace}/bad-train"
    module = sample_module()
    # a layer of its own (no other artifact shares the blob), then changed in storage
    changed = module + f"\n# {namespace}\n".encode()
    tampered = push_module(registry, repo, "tampered", changed)
    blob = blob_file(dev_cluster, digest_bytes(changed))
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0x01
    blob.write_bytes(bytes(data))
    two_layers = push_module(registry, repo, "two", module, b"# a second file\n")
    absent = digest_bytes(b"never pushed to " + repo.encode())

    # model -> (pinned digest, the reason, what the message must name)
    cases = {
        "absent": (absent, "CodeNotFound", f"no manifest {repo}@{absent}"),
        "tampered": (tampered, "CodeDigestMismatch", "does not match its digest"),
        "layers": (two_layers, "InvalidCodeArtifact", "exactly one layer"),
    }
    for model, (digest, _, _) in cases.items():
        kube.create(MODELS, namespace, code_model(model, repo, digest))

    for model, (_, reason, named) in cases.items():
        status = wait_for_status(
            kube, MODELS, namespace, model, lambda s: s.get("phase") == "Failed", 600,
            describe=operator.tail,
        )  # fmt: skip
        (tj,) = training_jobs(kube, namespace, model)
        failure = tj["status"]["failure"]
        assert tj["status"]["phase"] == "Failed", (model, tj["status"])
        assert tj["status"]["attempts"] == 1, (model, tj["status"])
        assert failure["reason"] == reason, (model, failure)
        assert named in failure["message"], (model, failure)
        assert condition(status, "Ready")["reason"] == reason
        assert "latestVersion" not in status and not status.get("versions")

    # nothing is retried later either (the operator backs off 2 s before a retry)
    time.sleep(6)  # an absence can only be observed over time
    for model in cases:
        (tj,) = training_jobs(kube, namespace, model)
        assert tj["status"]["attempts"] == 1 and tj["status"]["phase"] == "Failed"
        jobs = kube.list(JOBS, namespace, {"modelship.io/trainingjob": tj["metadata"]["name"]})
        assert len(jobs) == 1, model
