"""spec.training.code: validation of the API, and fetching the module (ConfigMap, OCI by digest)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from modelship.api.v1alpha1 import ModelSpec, TrainingCodeSpec
from modelship.catalog import IntegrityError, StorageError
from modelship.catalog.digests import digest_bytes
from modelship.contracts.training_code import CODE_FILE, types_not_allowed
from modelship.training.errors import BadInput, Transient
from modelship.training.script import source

DIGEST = "sha256:" + "c" * 64
CONFIGMAP = {"configMap": {"name": "churn-train", "key": "train.py"}}


def spec(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "task": "classification",
        "dataset": {"uri": "builtin:iris"},
        "training": {"code": CONFIGMAP},
    }
    body.update(overrides)
    return body


def test_code_is_an_alternative_to_algorithm() -> None:
    model = ModelSpec.model_validate(spec())
    assert model.algorithm is None and model.training.code is not None
    assert model.training.code.entrypoint == "train"
    assert model.training.code.source == "configmap:churn-train/train.py"
    assert model.snapshot().training.code == model.training.code


def test_exactly_one_of_algorithm_and_code() -> None:
    with pytest.raises(ValidationError, match="exactly one of algorithm"):
        ModelSpec.model_validate(spec(algorithm={"name": "random_forest"}))
    with pytest.raises(ValidationError, match="exactly one of algorithm"):
        ModelSpec.model_validate(spec(training={}))


def test_the_code_times_out_before_the_pod() -> None:
    late = {"code": {**CONFIGMAP, "timeoutSeconds": 600}, "timeoutSeconds": 600}
    with pytest.raises(ValidationError, match=r"timeoutSeconds \(600\) must be less than"):
        ModelSpec.model_validate(spec(training=late))
    fine = {"code": {**CONFIGMAP, "timeoutSeconds": 590}, "timeoutSeconds": 600}
    assert ModelSpec.model_validate(spec(training=fine)).training.code is not None


def test_exactly_one_source() -> None:
    both = {**CONFIGMAP, "oci": {"repository": "team/train", "digest": DIGEST}}
    with pytest.raises(ValidationError, match="exactly one source"):
        TrainingCodeSpec.model_validate(both)
    with pytest.raises(ValidationError, match="exactly one source"):
        TrainingCodeSpec.model_validate({"entrypoint": "train"})


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("oci", {"repository": "team/train", "digest": "latest"}),
        ("oci", {"repository": "team/train", "digest": "sha256:" + "C" * 64}),
        ("oci", {"repository": "Team/Train", "digest": DIGEST}),
        ("entrypoint", "train-model"),
        ("trustedTypes", ["Encoder"]),
        ("trustedTypes", ["mypkg.encoders.Rare Label"]),
        ("timeoutSeconds", 0),
    ],
)
def test_bad_values_are_refused_naming_the_field(field: str, value: Any) -> None:
    code: dict[str, Any] = {"oci": {"repository": "team/train", "digest": DIGEST}}
    code[field] = value
    with pytest.raises(ValidationError) as caught:
        TrainingCodeSpec.model_validate(code)
    assert field in str(caught.value)


def test_the_oci_source_is_pinned() -> None:
    code = TrainingCodeSpec.model_validate(
        {"oci": {"repository": "team/churn-train", "digest": DIGEST}, "trustedTypes": ["a.B"]}
    )
    assert code.source == f"oci:team/churn-train@{DIGEST}"
    assert code.trusted_types == ["a.B"]


def test_the_allowlist_policy_fails_closed() -> None:
    assert types_not_allowed(["a.B", "c.D"], None) == ["a.B", "c.D"]
    assert types_not_allowed(["a.B", "c.D"], ["a.B"]) == ["c.D"]
    assert types_not_allowed(["a.B"], ["a.B", "x.Y"]) == []
    assert types_not_allowed([], None) == []


class FakeRegistry:
    """The two calls of `catalog.registry.Registry` fetching uses, with its failures."""

    def __init__(self, blob: bytes, *, fail: Exception | None = None, layers: int = 1) -> None:
        self.blob, self.fail, self.layers = blob, fail, layers

    def get_manifest(self, repo: str, reference: str) -> tuple[dict[str, Any], str] | None:
        if repo != "team/churn-train":
            return None
        layer = {"mediaType": "text/x-python", "digest": digest_bytes(self.blob)}
        return {"layers": [layer] * self.layers}, reference

    def fetch_blob(self, repo: str, digest: str) -> bytes:
        if self.fail is not None:
            raise self.fail
        return self.blob


def oci(repository: str = "team/churn-train") -> TrainingCodeSpec:
    return TrainingCodeSpec.model_validate({"oci": {"repository": repository, "digest": DIGEST}})


def test_an_oci_module_is_fetched_with_its_digest() -> None:
    code = source.from_registry(oci(), FakeRegistry(b"def train(data, params): ...\n"))
    assert code.digest == digest_bytes(b"def train(data, params): ...\n")
    assert code.origin == f"oci:team/churn-train@{DIGEST}"


@pytest.mark.parametrize(
    ("registry", "repository", "reason", "kind"),
    [
        (FakeRegistry(b"x", fail=IntegrityError("blob mismatch")), None, "CodeDigestMismatch",
         BadInput),
        (FakeRegistry(b"x", fail=StorageError("unreachable")), None, "CodeSourceUnavailable",
         Transient),
        (FakeRegistry(b"x"), "team/other", "CodeNotFound", BadInput),
        (FakeRegistry(b"x", layers=2), None, "InvalidCodeArtifact", BadInput),
        (FakeRegistry(b"\xff\xfe"), None, "InvalidCode", BadInput),
        (None, None, "CodeSourceUnavailable", BadInput),
    ],
)  # fmt: skip
def test_oci_failures_are_named(
    registry: FakeRegistry | None, repository: str | None, reason: str, kind: type[Exception]
) -> None:
    with pytest.raises(kind) as caught:
        source.from_registry(oci(repository or "team/churn-train"), registry)
    assert getattr(caught.value, "reason", None) == reason


def test_a_digest_mismatch_from_the_real_registry_client_is_final() -> None:
    """`Registry.get_manifest` raises IntegrityError when a manifest hashes to another digest."""

    class Tampered(FakeRegistry):
        def get_manifest(self, repo: str, reference: str) -> tuple[dict[str, Any], str] | None:
            raise IntegrityError(f"{repo}@{reference}: the registry served a different manifest")

    with pytest.raises(BadInput) as caught:
        source.from_registry(oci(), Tampered(b"x"))
    assert caught.value.reason == "CodeDigestMismatch"
    assert DIGEST in caught.value.message


def test_a_configmap_module_is_read_from_its_volume(tmp_path: Path) -> None:
    code = TrainingCodeSpec.model_validate(CONFIGMAP)
    with pytest.raises(BadInput, match="'churn-train' in namespace 'ml'"):
        source.from_configmap(code, tmp_path, "ml")
    (tmp_path / CODE_FILE).write_text("def train(data, params): ...\n")
    assert source.from_configmap(code, tmp_path, "ml").origin == "configmap:churn-train/train.py"
