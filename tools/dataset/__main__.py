"""``python -m tools.dataset``: build the embedded dataset from facts/ and check it."""

import sys

from .build import main

sys.exit(main())
