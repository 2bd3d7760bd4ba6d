"""``python -m steer_sync``: the same as the ``steer-sync`` command."""

import sys

from steer_sync._cli import main

if __name__ == "__main__":
    sys.exit(main())
