"""Typed errors raised by the core; the UI shows their message to the user as-is."""


def one_line(text: str, limit: int | None = 400) -> str:
    """A message as the user sees it: whitespace collapsed (decoder plugins dump several lines), capped."""
    text = " ".join(str(text).split())
    return text if limit is None or len(text) <= limit else text[: limit - 1].rstrip() + "…"


class StudyError(Exception):
    """A study could not be turned into an image. The message is meant for the user."""


class UnreadableStudyError(StudyError):
    """The file is missing, empty, truncated, corrupt or not a format we read."""


class NotAnImageError(StudyError):
    """The file is a valid DICOM object but carries no image (e.g. a structured report)."""


class UnsupportedStudyError(StudyError):
    """The file holds an image we deliberately do not show (multi-frame, huge, unknown encoding)."""


class BundleError(Exception):
    """A model bundle is missing, incomplete, or fails its integrity check."""
