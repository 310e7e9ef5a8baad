"""PyInstaller entry point of the packaged app (see cxrviewer.spec): the same ``main`` as ``python -m cxrviewer``."""

import sys

from cxrviewer.__main__ import main

if __name__ == "__main__":
    sys.exit(main())
