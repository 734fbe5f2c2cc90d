"""`python -m modelship.router`: route for the Deployment named by MODELSHIP_ROUTER_* variables."""

from __future__ import annotations

import sys

from pydantic import ValidationError

from modelship.router.kubeapi import ApiConnection
from modelship.router.server import serve
from modelship.router.settings import RouterSettings


def main() -> int:
    try:
        settings = RouterSettings()  # fields come from the environment
    except ValidationError as error:
        print(f"invalid MODELSHIP_ROUTER_* settings:\n{error}", file=sys.stderr)
        return 2
    try:
        connection = ApiConnection.in_cluster()
    except RuntimeError as error:
        print(f"the router learns its routes from the API server: {error}", file=sys.stderr)
        return 2
    serve(settings, connection)
    return 0


if __name__ == "__main__":
    sys.exit(main())
