"""``python -m evaluator``: see :mod:`evaluator.cli`."""

import sys

from evaluator.cli import main

if __name__ == "__main__":
    sys.exit(main())
