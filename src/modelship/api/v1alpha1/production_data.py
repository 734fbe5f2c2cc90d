"""`spec.dataset.production`: training on labelled production rows, and the live champion gate.

Captured production inputs joined with the labels that arrived for them (feedback route, label
segments) join the training set. Part of the dataset, hence of the training snapshot a
TrainingJob freezes: turning it on changes what the trainer produces. The newest labelled window
is never trained on; a candidate must score at least as well as the production version on it
(by the Model's primary metric) or it fails a gate, before it can reach the test stage.
"""

from __future__ import annotations

from pydantic import Field

from modelship.api.v1alpha1.base import ApiModel

DAY = 86_400


class ProductionDataSpec(ApiModel):
    """Which labelled production rows join the training set, how much they count, and which
    newest ones are held out to compare the candidate with production."""

    window_seconds: int = Field(
        default=30 * DAY,
        ge=60,
        le=366 * DAY,
        description="How far back captured rows are read (by the time they were answered).",
    )
    weight: float = Field(
        default=1.0,
        gt=0,
        le=1000,
        description="Sample weight of a production row, relative to a base dataset row (1). A "
        "concept change fights the base rows' old labelling, so a weight well above 1 lets "
        "the new one win. Needs an estimator that accepts sample weights (knn and mlp do "
        "not): with any other weight than 1 such a Model's training fails with "
        "InvalidConfiguration, it is never silently ignored.",
    )
    max_rows: int = Field(
        default=50_000,
        ge=1,
        le=5_000_000,
        description="Most production rows trained on; beyond it the oldest are left out "
        "(counted in the version's lineage).",
    )
    holdout_seconds: int = Field(
        default=DAY,
        ge=0,
        le=366 * DAY,
        description="The newest labelled window, measured back from the newest labelled row's "
        "answer time: never trained on, and where the candidate must score at least as well "
        "as the production version. 0 holds nothing out (and so has no live gate).",
    )
    min_holdout_rows: int = Field(
        default=30,
        ge=0,
        description="Held-out rows the live gate needs. With a version in production and fewer "
        "rows held out, the gate fails (the candidate cannot be shown to be as good): wait "
        "for labels, or lower this. 0 lets a candidate pass when nothing is held out.",
    )


class ProductionRowsStatus(ApiModel):
    """What a training run took from production (the version's catalog metadata has the rest:
    segment spans, refusals by reason, the live gate's figures)."""

    rows: int = Field(ge=0, description="Labelled production rows trained on.")
    holdout_rows: int = Field(ge=0, description="Newest labelled rows held out for the live gate.")
    window_from: str = Field(description="Oldest answer time read.")
    window_to: str = Field(description="Newest answer time read.")
    weight: float = Field(description="Sample weight of a production row.")
    rows_digest: str = Field(description="sha256 of the joined rows (id, inputs, label).")
