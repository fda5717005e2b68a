"""``python -m petmtl.cli``."""

import sys

from . import main

sys.exit(main())
