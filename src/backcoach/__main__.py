"""`python -m backcoach` runs the command-line shell."""

import sys

from .cli import main

sys.exit(main())
