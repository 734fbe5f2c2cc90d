"""The catalog interface, independent of where versions are stored.

`Catalog` is what trainers, serving and the CLI program against; `FileCatalog` (a directory or a
PersistentVolumeClaim) is the one backend today. An object-store backend would implement the same
methods and hand out a `VerifiedVersion` over a local, verified copy of the files.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelship.catalog import artifacts, boosters
from modelship.catalog.artifacts import LEGACY_MODEL_FILE, MODEL_FILE
from modelship.catalog.digests import digest_bytes
from modelship.catalog.errors import (
    CatalogError,
    IntegrityError,
    InvalidNameError,
    UntrustedArtifactError,
)
from modelship.catalog.models import (
    AcceptanceSet,
    AlgorithmInfo,
    DatasetInfo,
    EvaluationInfo,
    FeatureInfo,
    GateResult,
    Profile,
    TargetInfo,
    Task,
    VersionMetadata,
)
from modelship.catalog.predictions import ListedOutput
from modelship.contracts.features import FeaturePlan
from modelship.contracts.production_data import ProductionUse

METADATA_FILE = "metadata.json"
ACCEPTANCE_FILE = "acceptance.json"
PROFILE_FILE = "profile.json"
FEATURES_FILE = "features.json"
"""The fitted feature plan (`contracts.features.FeaturePlan`), in versions with typed features."""

# Kubernetes object names (DNS-1123 subdomain): they become path components, so nothing that could
# climb out of the catalog (`..`, `/`) or hide from listings (a leading dot) gets through.
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")


def check_name(kind: str, value: str) -> str:
    if len(value) > 253 or not _NAME.match(value) or ".." in value:
        raise InvalidNameError(f"invalid {kind} name {value!r}: expected a Kubernetes object name")
    return value


@dataclass(frozen=True)
class StagedVersion:
    """Everything a trainer hands to `Catalog.publish`; the catalog adds number, digests, time."""

    model: Any
    task: Task
    algorithm: AlgorithmInfo
    dataset: DatasetInfo
    features: list[FeatureInfo]
    target: TargetInfo
    acceptance: AcceptanceSet
    profile: Profile
    metrics: dict[str, float] = field(default_factory=dict)
    gates: list[GateResult] = field(default_factory=list)
    evaluation: EvaluationInfo | None = None
    training_job: str | None = None
    trusted_types: tuple[str, ...] = ()
    """Extra artifact types the platform admin allowed for this model (script mode only)."""
    feature_plan: FeaturePlan | None = None
    production: ProductionUse | None = None

    def documents(self) -> dict[str, bytes]:
        """The version's files besides the model and metadata, as every backend writes them."""
        files = {
            ACCEPTANCE_FILE: self.acceptance.to_json().encode("utf-8"),
            PROFILE_FILE: self.profile.to_json().encode("utf-8"),
        }
        if self.feature_plan is not None:
            files[FEATURES_FILE] = self.feature_plan.to_json().encode("utf-8")
        return files


class VerifiedVersion:
    """A version whose digests were checked; every read re-checks the bytes it returns.

    Reading into memory and hashing what was read (rather than hashing, then opening again) means
    a file swapped after `verify` is still refused: joblib only ever sees verified bytes.
    """

    def __init__(self, metadata: VersionMetadata, path: Path) -> None:
        self.metadata = metadata
        self.path = path
        self.warnings: list[str] = []
        """What the reader should report but that did not stop it (a tag moved off the pin)."""

    def read_verified(self, name: str) -> bytes:
        expected = self.metadata.files.get(name)
        if expected is None:
            raise IntegrityError(f"{name} is not part of version {self.metadata.version}")
        try:
            data = (self.path / name).read_bytes()
        except FileNotFoundError as exc:
            raise IntegrityError(f"{name} of version {self.metadata.version} is missing") from exc
        if digest_bytes(data) != expected:
            raise IntegrityError(
                f"{name} of {self.metadata.namespace}/{self.metadata.model} version "
                f"{self.metadata.version} does not match its published digest; refusing to use it"
            )
        return data

    def load_model(self, *, allow_pickle: bool = False, trusted: tuple[str, ...] = ()) -> Any:
        """Load the estimator, only from bytes that match the published digest.

        skops artifacts load against the allowlist (plus `trusted`: the admin's extra types, from
        the reader's own settings, never from the artifact); a legacy joblib artifact only with
        `allow_pickle` (its bytes are verified, but unpickling still runs whatever they say).
        An XGBoost or LightGBM model loads from its verified bytes, and only when the library
        that wrote it is not newer than ours.
        """
        if (framework := self.metadata.framework) is not None:
            return self._load_booster(framework.name, framework.version)
        if MODEL_FILE in self.metadata.files:
            return artifacts.load_model(self.read_verified(MODEL_FILE), trusted)
        if LEGACY_MODEL_FILE in self.metadata.files:
            if not allow_pickle:
                raise UntrustedArtifactError(
                    f"version {self.metadata.version} is a joblib pickle ({LEGACY_MODEL_FILE}); "
                    "loading it runs code, so it is refused unless pickles are explicitly allowed",
                    ["pickle"],
                )
            return artifacts.load_pickle(self.read_verified(LEGACY_MODEL_FILE))
        raise IntegrityError(f"version {self.metadata.version} has no model artifact")

    def _load_booster(self, framework: str, written_by: str) -> Any:
        where = (
            f"version {self.metadata.version} of {self.metadata.namespace}/{self.metadata.model}"
        )
        name = boosters.FILES.get(framework)
        if name is None or name not in self.metadata.files:
            # Refused before a byte is read: an unknown library, or a file of another format.
            boosters.check_readable(framework, written_by)
            raise IntegrityError(f"{where} records a {framework} model but has no {name}")
        data = self.read_verified(name)  # the digest first, then the library's parser
        classes = self.metadata.target.classes if self.metadata.task == "classification" else None
        try:
            return boosters.load(framework, written_by, data, classes, len(self.metadata.features))
        except CatalogError as exc:
            raise type(exc)(f"{where}: {exc}") from exc

    def acceptance(self) -> AcceptanceSet:
        return AcceptanceSet.model_validate_json(self.read_verified(ACCEPTANCE_FILE))

    def profile(self) -> Profile:
        return Profile.model_validate_json(self.read_verified(PROFILE_FILE))

    def feature_plan(self) -> FeaturePlan | None:
        """The fitted feature plan, or None for a version trained on untyped numeric features."""
        if FEATURES_FILE not in self.metadata.files:
            return None
        return FeaturePlan.model_validate_json(self.read_verified(FEATURES_FILE))


class Catalog(ABC):
    """Versioned, immutable, digest-checked storage of trained models."""

    uri: str

    @abstractmethod
    def publish(self, namespace: str, model: str, staged: StagedVersion) -> VersionMetadata:
        """Allocate the next version atomically and make it visible all at once, read-only."""

    @abstractmethod
    def list_models(self, namespace: str | None = None) -> list[tuple[str, str]]:
        """(namespace, model) pairs that have a catalog directory, sorted."""

    @abstractmethod
    def version_numbers(self, namespace: str, model: str) -> list[int]:
        """Published version numbers, ascending, without reading any metadata."""

    @abstractmethod
    def get(self, namespace: str, model: str, version: int) -> VersionMetadata:
        """A version's metadata, without checking digests (for display, not for loading)."""

    @abstractmethod
    def verify(self, namespace: str, model: str, version: int) -> VersionMetadata:
        """Recompute every digest; IntegrityError on any mismatch or missing file."""

    @abstractmethod
    def open_verified(
        self,
        namespace: str,
        model: str,
        version: int,
        expected_digest: str | None = None,
        *,
        pinned: str | None = None,
    ) -> VerifiedVersion:
        """Verify, optionally pin the version digest, and return a handle for reading.

        `pinned` is the artifact URI the trainer reported (`artifact_uri`): a registry reads
        that exact manifest; a volume has nothing more specific than the version directory.
        """

    @abstractmethod
    def import_version(
        self, namespace: str, model: str, source: VerifiedVersion
    ) -> VersionMetadata:
        """Publish the files of a verified version (from any catalog) under a new number here.

        The files, hence the version digest, stay the same: an approval of that digest still
        names exactly the bytes that were tested. Promotion across namespaces is this.
        """

    @abstractmethod
    def prune(self, namespace: str, model: str, keep: int, pinned: set[int]) -> list[int]:
        """Delete all but the newest `keep` and the pinned versions; return those removed."""

    @abstractmethod
    def version_uri(self, namespace: str, model: str, version: int) -> str:
        """Where a version lives, for humans and status fields."""

    def artifact_uri(self, namespace: str, model: str, version: int) -> str:
        """The most specific reference to a published version, recorded in status and passed to
        the pods that read it (`open_verified(pinned=...)`)."""
        name = artifacts.model_file(self.get(namespace, model, version).files)
        return f"{self.version_uri(namespace, model, version)}/{name}"

    def list_versions(self, namespace: str, model: str) -> list[VersionMetadata]:
        """Metadata of every readable version, ascending; unreadable ones are left out."""
        found = []
        for number in self.version_numbers(namespace, model):
            try:
                found.append(self.get(namespace, model, number))
            except CatalogError:  # damaged, newer format, or pruned meanwhile: not listable
                continue
        return found

    def prediction_outputs(
        self, namespace: str, model: str, version: int | None = None
    ) -> list[ListedOutput]:
        """The batch prediction outputs written to this catalog for `model` (only those of
        `version` when given), oldest first: what a version predicted, and for whom."""
        raise CatalogError(f"{type(self).__name__} does not keep batch prediction outputs")

    def latest(
        self, namespace: str, model: str, *, passed_gates: bool = False
    ) -> VersionMetadata | None:
        """The newest version (optionally: the newest whose gates all passed)."""
        for metadata in reversed(self.list_versions(namespace, model)):
            if not passed_gates or metadata.gates_passed:
                return metadata
        return None
