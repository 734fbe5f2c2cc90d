"""The inference server: one catalog version over the Open Inference Protocol v2 (REST).

Layers, each knowing only the one below: runtime (load and predict, no HTTP) → data plane
(lookup, readiness, admission, metrics, drift) → endpoints (HTTP only) → `create_app`, the one
wiring point. `python -m modelship.serving` runs it under uvicorn.
"""

from modelship.serving.app import create_app
from modelship.serving.settings import ServingSettings

__all__ = ["ServingSettings", "create_app"]
