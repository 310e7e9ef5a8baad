"""Orientation markers: which patient direction each edge of the displayed film faces, from the file's tags.

Patient Orientation (0020,0020) gives two directions (PS3.3 C.7.6.1.1.1): where the rows run (towards the
image's right edge) and where the columns run (towards the bottom edge), in letters A/P, R/L, H/F (oblique:
several letters, e.g. "LH"). The opposite edges get the opposite letters; rotation and flips move the labels
with the pixels. Without Patient Orientation (every PNG/JPEG, many DICOMs) there are no edge labels: the view
position is not enough to know how the film lies in the file, and a marker is never guessed.
"""

from __future__ import annotations

from dataclasses import dataclass

from .rendering import Orientation

OPPOSITE = {"A": "P", "P": "A", "R": "L", "L": "R", "H": "F", "F": "H"}
VIEW_NAMES = {"LL": "left lateral", "RL": "right lateral", "LAT": "lateral", "LLD": "left decubitus"}


@dataclass(frozen=True)
class Edges:
    top: str
    right: str
    bottom: str
    left: str

    def flipped_h(self) -> Edges:
        return Edges(self.top, self.left, self.bottom, self.right)

    def flipped_v(self) -> Edges:
        return Edges(self.bottom, self.right, self.top, self.left)

    def rotated_cw(self) -> Edges:
        """A quarter turn clockwise: what faced left now faces the top."""
        return Edges(self.left, self.top, self.right, self.bottom)


@dataclass(frozen=True)
class Markers:
    edges: Edges | None  # None: the file does not say (nothing is drawn on the edges)
    view: str  # e.g. "PA", "AP · laterality R"; "" when unknown
    note: str  # why there are no edge labels, for DICOM files; "" otherwise


def _direction(value: str) -> str | None:
    letters = value.strip().upper()
    if not letters or any(c not in OPPOSITE for c in letters):
        return None  # empty, or quadruped / unknown codes: no label rather than a wrong one
    return letters


def _opposite(direction: str) -> str:
    return "".join(OPPOSITE[c] for c in direction)


def file_edges(patient_orientation: str) -> Edges | None:
    """Edge labels of the film as stored, from Patient Orientation ("L\\F"); None when absent or unusable."""
    parts = [p for p in patient_orientation.split("\\")] if patient_orientation else []
    if len(parts) != 2:
        return None
    row_dir, col_dir = _direction(parts[0]), _direction(parts[1])
    if row_dir is None or col_dir is None:
        return None
    return Edges(top=_opposite(col_dir), right=row_dir, bottom=col_dir, left=_opposite(row_dir))


def oriented_edges(edges: Edges, orientation: Orientation) -> Edges:
    """Move the labels as :func:`cxrviewer.core.rendering.orient` moves the pixels (flips, then rotation)."""
    if orientation.flip_h:
        edges = edges.flipped_h()
    if orientation.flip_v:
        edges = edges.flipped_v()
    for _ in range((orientation.rotation // 90) % 4):
        edges = edges.rotated_cw()
    return edges


def orientation_markers(metadata: dict, orientation: Orientation) -> Markers:
    """(the study's metadata, the display orientation) -> the four edge labels and the view in words."""
    if metadata.get("format") != "DICOM":
        return Markers(None, "", "")
    view = str(metadata.get("view_position", "") or "").strip().upper()
    view = VIEW_NAMES.get(view, view)
    laterality = str(metadata.get("image_laterality", "") or "").strip().upper()
    view_text = " · ".join(t for t in (view, f"laterality {laterality}" if laterality else "") if t)
    edges = file_edges(str(metadata.get("patient_orientation", "") or ""))
    if edges is None:
        return Markers(None, view_text, "orientation not recorded in the file")
    return Markers(oriented_edges(edges, orientation), view_text, "")
