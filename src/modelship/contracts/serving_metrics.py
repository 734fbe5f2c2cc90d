"""The inference server's Prometheus series that the operator reads back.

The server exports them (serving/metrics.py) and the operator scrapes them to compare a canary
with the stable version (operator/serving_scrape.py). Both sides import the names from here, so
renaming a series on one side alone breaks a test instead of silently starving the analysis.
"""

from __future__ import annotations

from typing import Final

REQUESTS_TOTAL: Final = "modelship_http_requests_total"
"""Counter by `route`, `method`, `code`."""

REQUEST_DURATION_SECONDS: Final = "modelship_http_request_duration_seconds"
"""Histogram by `route`."""

PREDICTIONS_TOTAL: Final = "modelship_predictions_total"
"""Counter of predicted rows by `class_label` (classifiers)."""

PREDICTION_VALUE: Final = "modelship_prediction_value"
"""Histogram of predicted values (regressors)."""

IN_FLIGHT_REQUESTS: Final = "modelship_inference_in_flight_requests"
"""Gauge of inference requests being served now."""

INFERENCE_ROUTES: Final = frozenset({"infer", "v1_predict"})
"""Route names (the `route` label) that carry predictions; health and metrics are not traffic."""

ROUTER_REQUESTS_TOTAL: Final = "modelship_router_requests_total"
"""Counter by `backend` (stable, canary) and `code`: what the router forwarded."""

ROUTER_REQUEST_DURATION_SECONDS: Final = "modelship_router_request_duration_seconds"
"""Histogram by `backend`: time from the router receiving a request to its answer."""

SHADOW_REQUESTS_TOTAL: Final = "modelship_shadow_requests_total"
"""Counter by `outcome`: `compared` (both answered 200), `error` (the shadow failed or timed out),
`dropped` (the bounded queue was full: never delaying the caller beats mirroring everything)."""

SHADOW_ROWS_TOTAL: Final = "modelship_shadow_rows_total"
"""Counter by `agreement`: `agree` / `disagree`, rows of compared requests (classification: equal
labels; regression: within SHADOW_TOLERANCE relative difference)."""

SHADOW_DURATION_SECONDS: Final = "modelship_shadow_duration_seconds"
"""Histogram by `side` (`production`, `shadow`): latency of each side on the same requests."""

SHADOW_TOLERANCE: Final = 0.05
"""Two regression predictions agree when they differ by at most 5 % of the larger magnitude."""
