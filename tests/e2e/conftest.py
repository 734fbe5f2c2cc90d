"""End-to-end tests use the operator inside the cluster: `in_cluster_operator` in tests/conftest.py
(deployed from manifests/default as `make deploy` does, or already there under `make kind-e2e`)."""
