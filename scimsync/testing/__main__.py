"""``python -m scimsync.testing``: serve the SCIM emulator (see :mod:`._standalone`)."""

from __future__ import annotations

import sys

from scimsync.testing._standalone import main

if __name__ == "__main__":
    sys.exit(main())
