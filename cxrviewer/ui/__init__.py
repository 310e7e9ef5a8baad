"""The PySide6 desktop viewer. All Qt code of cxrviewer lives in this package; pixels, models and
reports come from :mod:`cxrviewer.core`."""
