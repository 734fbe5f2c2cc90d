"""The Deployment controller (`modelship.operator.deployment`).

Faked: the API server, by `support.deployments.cluster()` (a `FakeKube` holding Model `iris`
with a published version and Deployment `iris`); the inference pods' `/metrics` and drift
answers, by `FakeKube.proxied`; Kopf's daemon, by `support.kopf_daemon.Stopped`; time, passed in.
The deciders get `Observation`s, never a client.
"""
