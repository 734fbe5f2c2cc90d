"""The production router: exact canary weights and shadow traffic without a service mesh.

A fourth process beside the operator, the trainer and the inference server. While a canary or
shadow is active the production Service selects router pods; each request goes to stable or
canary by weight (or by the version header), over pooled keep-alive connections, and a share of
inference requests is mirrored to the shadow after the caller has its answer. It learns what to do
from the API (an operator-owned ConfigMap and EndpointSlices) and imports only contracts and api.
"""

from modelship.router.settings import RouterSettings

__all__ = ["RouterSettings"]
