"""Modelship from Python: what pipelines and notebooks use to follow and drive the loop.

`Client` applies Models and Deployments from the typed API models, waits for versions (with a
progress display), lists and compares versions, reads the acceptance report, approves, and asks a
stage for predictions. `modelship wait` is built on the same `waiting` (judge an object's status
for one goal, pure) and `watch` (follow one object through the API server's watch, never polling).
"""

from modelship.client.sdk import Client, WaitError
from modelship.client.versions import Comparison, VersionRow, VersionTable

__all__ = ["Client", "Comparison", "VersionRow", "VersionTable", "WaitError"]
