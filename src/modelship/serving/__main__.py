"""`python -m modelship.serving`: serve the version named by MODELSHIP_SERVING_* variables."""

from __future__ import annotations

import sys

from pydantic import ValidationError

from modelship.serving.server import serve
from modelship.serving.settings import ServingSettings


def main() -> int:
    try:
        settings = ServingSettings()  # fields come from the environment
    except ValidationError as error:
        print(f"invalid MODELSHIP_SERVING_* settings:\n{error}", file=sys.stderr)
        return 2
    return serve(settings)


if __name__ == "__main__":
    sys.exit(main())
