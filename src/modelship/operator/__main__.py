"""`python -m modelship.operator`: run the operator (same as `kopf run -m modelship.operator`)."""

from __future__ import annotations

import asyncio
import sys

import kopf

import modelship.operator  # noqa: F401  (registers the handlers)
from modelship.operator.settings import OperatorSettings


def main() -> int:
    settings = OperatorSettings()
    kopf.configure(verbose=False)
    asyncio.run(
        kopf.operator(
            clusterwide=not settings.namespaces,
            namespaces=settings.namespaces,
            standalone=settings.standalone,
            liveness_endpoint=settings.health_endpoint or None,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
