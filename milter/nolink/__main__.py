import sys

from .adapters.cli import main

if __name__ == "__main__":  # worker processes import this module again (multiprocessing): no second run
    sys.exit(main())
