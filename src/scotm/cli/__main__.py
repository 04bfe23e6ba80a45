"""``python -m scotm.cli``."""

import sys

from . import main

sys.exit(main())
