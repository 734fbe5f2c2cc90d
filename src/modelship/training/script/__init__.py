"""Script mode: the data scientist's own `train(data, params)` inside Modelship's loop.

Three steps, one container each (see `modelship.contracts.training_code` for the pod):
`prepare` (fetch code and data, split), `runner`/`child` (the user's code, with no credentials
and no held-out rows), `publish` (check the artifact, evaluate on the held-out rows, publish).
"""
