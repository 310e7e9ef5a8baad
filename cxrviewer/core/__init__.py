"""Qt-free core of cxrviewer: studies, DICOM pixels, preprocessing, model bundles, inference, Grad-CAM.

Imported by the viewer's UI and by ``trainer``; must never import Qt or ``trainer``.
"""
from .bundle import ModelBundle, default_models_dir, list_bundles, load_bundle, read_card, write_bundle
from .errors import BundleError, NotAnImageError, StudyError, UnreadableStudyError, UnsupportedStudyError
from .preprocess import PreprocessConfig, preprocess, resize_to_input, standardize_intensity, to_model_input
from .study import Study, is_dicom_file, load_study
from .windowing import apply_window, auto_window

# Predictor and Prediction are imported on first use (PEP 562): torch and pytorch-grad-cam take seconds to
# import, and the viewer shows its window before its model worker loads them.


def __getattr__(name: str):
    if name in ("Predictor", "Prediction"):
        from . import predictor

        return getattr(predictor, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "BundleError", "ModelBundle", "NotAnImageError", "Prediction", "Predictor", "PreprocessConfig", "Study",
    "StudyError", "UnreadableStudyError", "UnsupportedStudyError", "apply_window", "auto_window",
    "default_models_dir", "is_dicom_file", "list_bundles", "load_bundle", "load_study", "preprocess",
    "read_card", "resize_to_input", "standardize_intensity", "to_model_input", "write_bundle",
]
