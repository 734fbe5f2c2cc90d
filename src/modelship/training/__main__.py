"""Entry point of the training pod: `python -m modelship.training`."""

import sys

from modelship.training.main import main

sys.exit(main())
