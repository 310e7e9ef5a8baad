"""Qt-free, torch-free core of cxrviewer: studies, DICOM pixels, preprocessing, model bundles, inference, CAM.

Imported by the viewer's UI and by ``trainer``; must never import Qt, torch or ``trainer``.
"""

from .bundle import ModelBundle, default_models_dir, list_bundles, load_bundle, read_card
from .errors import BundleError, NotAnImageError, StudyError, UnreadableStudyError, UnsupportedStudyError
from .model_card import ModelCard, update_card
from .preprocess import PreprocessConfig, preprocess, resize_to_input, standardize_intensity, to_model_input
from .study import Study, is_dicom_file, load_study
from .windowing import apply_window, auto_window


# Predictor and Prediction are imported on first use (PEP 562): onnxruntime takes a moment to import, and the
# viewer shows its window before its model worker loads it.
def __getattr__(name: str):
    if name in ("Predictor", "Prediction"):
        from . import predictor

        return getattr(predictor, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "BundleError",
    "ModelBundle",
    "ModelCard",
    "NotAnImageError",
    "Prediction",
    "Predictor",
    "PreprocessConfig",
    "Study",
    "StudyError",
    "UnreadableStudyError",
    "UnsupportedStudyError",
    "apply_window",
    "auto_window",
    "default_models_dir",
    "is_dicom_file",
    "list_bundles",
    "load_bundle",
    "load_study",
    "preprocess",
    "read_card",
    "resize_to_input",
    "standardize_intensity",
    "to_model_input",
    "update_card",
]
