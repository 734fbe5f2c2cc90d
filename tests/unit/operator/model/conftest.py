"""The Model controller (`modelship.operator.model`).

Faked: nothing for the decisions (`decide`, retraining signals and guardrails), whose inputs are
typed observations built by `support.model_observations`; the API server (`FakeKube`) for the
dataset probe's Jobs. The probe process itself runs for real, on files in a temporary directory.
"""
