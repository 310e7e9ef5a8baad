"""PyInstaller entry point of the packaged app (see cxrviewer.spec): the same ``main`` as ``python -m cxrviewer``."""

import multiprocessing
import sys

from cxrviewer.__main__ import main

if __name__ == "__main__":
    # The decode pool decodes DICOM in a spawned process (core/decode_pool.py); in the frozen app that child
    # starts this executable again, and freeze_support() turns it into the decode worker instead of a window.
    multiprocessing.freeze_support()
    sys.exit(main())
