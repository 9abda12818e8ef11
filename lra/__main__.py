"""``python -m lra`` entry point (see :mod:`lra.cli`)."""

import sys

from lra.cli import main

if __name__ == "__main__":
    sys.exit(main())
