"""Kopf's records under our domain, made to see what our users ask for by annotation.

Kopf keeps its bookkeeping under our domain (`modelship.io/last-handled-configuration`, the
progress records) and marks every object it handles with `modelship.io/kopf-managed`. When it
compares an object with the last handled configuration, it leaves out every `modelship.io/`
annotation twice over, taking them all for its own: the diff-base storage drops a marked
prefix, and the progress storage clears its prefix from both sides. But users ask for things
with annotations under the same domain: `modelship.io/retrain` on a Model, `modelship.io/promote`
and `modelship.io/abort` on a Deployment. Setting one changed nothing Kopf compared, so no update
handler ran, and the request waited for whatever event came next (a drift reading, a requeue, a
TrainingJob's last patch) or, on a quiet object, forever. Both storages here keep them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, cast

import kopf

from modelship.contracts.approval import ABORT_ANNOTATION, PROMOTE_ANNOTATION
from modelship.operator.kube.naming import RETRAIN_ANNOTATION

PREFIX = "modelship.io"
# What a user writes to ask the operator for something; Kopf never writes these.
USER_ANNOTATIONS = frozenset({RETRAIN_ANNOTATION, PROMOTE_ANNOTATION, ABORT_ANNOTATION})


def _with_requests(essence: Mapping[str, Any], source: Mapping[str, Any]) -> kopf.BodyEssence:
    """`essence` with the users' request annotations of `source` put back."""
    kept = cast(dict[str, Any], essence)
    annotations = (source.get("metadata") or {}).get("annotations") or {}
    asked = {key: value for key, value in annotations.items() if key in USER_ANNOTATIONS}
    if asked:
        kept.setdefault("metadata", {}).setdefault("annotations", {}).update(asked)
    return cast(kopf.BodyEssence, kept)


class UserAnnotationsDiffBaseStorage(kopf.AnnotationsDiffBaseStorage):
    """The last handled configuration, as Kopf's, plus the users' request annotations."""

    def build(
        self, *, body: kopf.Body, extra_fields: Iterable[Any] | None = None
    ) -> kopf.BodyEssence:
        return _with_requests(super().build(body=body, extra_fields=extra_fields), body)


class UserAnnotationsProgressStorage(kopf.AnnotationsProgressStorage):
    """Kopf's handler progress in annotations; clearing it from an essence keeps the requests."""

    def clear(self, *, essence: kopf.BodyEssence) -> kopf.BodyEssence:
        return _with_requests(super().clear(essence=essence), essence)


def storages() -> tuple[UserAnnotationsProgressStorage, UserAnnotationsDiffBaseStorage]:
    """The progress and diff-base storages the operator configures Kopf with."""
    return (
        UserAnnotationsProgressStorage(prefix=PREFIX),
        UserAnnotationsDiffBaseStorage(prefix=PREFIX, key="last-handled-configuration"),
    )
