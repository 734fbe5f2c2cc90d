"""Leadership: one active operator at a time through a `coordination.k8s.io/v1` Lease.

`lease` decides (no I/O), `elector` holds or waits for the Lease, `election` is Kopf's side."""
