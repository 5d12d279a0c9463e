"""``python -m scimsync``: the same as the ``scimsync`` command."""

from __future__ import annotations

import sys

from scimsync._cli import main

if __name__ == "__main__":
    sys.exit(main())
