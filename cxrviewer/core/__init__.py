"""Qt-free core of cxrviewer: studies, DICOM pixels, preprocessing, model bundles, inference, Grad-CAM.

Imported by the viewer's UI and by ``trainer``; must never import Qt or ``trainer``.
"""
from .bundle import ModelBundle, default_models_dir, list_bundles, load_bundle, read_card, write_bundle
from .errors import BundleError, NotAnImageError, StudyError, UnreadableStudyError, UnsupportedStudyError
from .predictor import Prediction, Predictor
from .preprocess import PreprocessConfig, preprocess, resize_to_input, standardize_intensity, to_model_input
from .study import Study, is_dicom_file, load_study
from .windowing import apply_window, auto_window

__all__ = [
    "BundleError", "ModelBundle", "NotAnImageError", "Prediction", "Predictor", "PreprocessConfig", "Study",
    "StudyError", "UnreadableStudyError", "UnsupportedStudyError", "apply_window", "auto_window",
    "default_models_dir", "is_dicom_file", "list_bundles", "load_bundle", "load_study", "preprocess",
    "read_card", "resize_to_input", "standardize_intensity", "to_model_input", "write_bundle",
]
