"""`python -m modelship.cli`: the `modelship` command without its console script."""

import sys

from modelship.cli import main

sys.exit(main())
