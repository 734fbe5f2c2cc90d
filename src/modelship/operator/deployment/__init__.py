"""The Deployment controller: move a Model version through test, acceptance, approval and
production, with canary and shadow rollouts, autoscaling and production drift.

`controller` runs one reconcile: `observe` (I/O) into the types of `observation`, the pure
deciders (`decide`, `test_stage`, `production`, `canary`, ...), then `apply`. Child objects come
from the pure builders in `builders/`."""
