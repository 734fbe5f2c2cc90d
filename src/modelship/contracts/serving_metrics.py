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
