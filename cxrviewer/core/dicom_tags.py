"""DICOM tags of a file as a plain tree, for the tag browser (patient data redacted when anonymising)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .anonymise import HIDDEN, PHI_KEYWORDS, PHI_VRS
from .errors import UnreadableStudyError

MAX_VALUE_CHARS = 200


@dataclass
class TagNode:
    tag: str  # "(0010,0010)"
    keyword: str
    vr: str
    value: str
    children: list[TagNode] = field(default_factory=list)


def _value_text(elem) -> str:
    if elem.VR in ("OB", "OW", "OF", "OD", "OL", "OV", "UN") or elem.keyword == "PixelData":
        length = len(elem.value) if elem.value is not None else 0
        return f"<{length:,} bytes>"
    text = str(elem.value)
    return text if len(text) <= MAX_VALUE_CHARS else text[:MAX_VALUE_CHARS] + "…"


def _nodes(ds, anonymise: bool) -> list[TagNode]:
    out = []
    for elem in ds:
        tag = f"({elem.tag.group:04X},{elem.tag.element:04X})"
        keyword = elem.keyword or (elem.name if elem.tag.is_private else "")
        if elem.VR == "SQ":
            node = TagNode(tag, keyword, "SQ", f"{len(elem.value)} item(s)")
            for i, item in enumerate(elem.value):
                node.children.append(TagNode("", f"Item {i + 1}", "", "", _nodes(item, anonymise)))
            out.append(node)
            continue
        hide = anonymise and (elem.keyword in PHI_KEYWORDS or elem.VR in PHI_VRS) and elem.value not in (None, "")
        out.append(TagNode(tag, keyword, str(elem.VR), HIDDEN if hide else _value_text(elem)))
    return out


def read_tags(path: str | Path, anonymise: bool = False) -> list[TagNode]:
    """File meta and dataset elements of a DICOM file (pixel data not read)."""
    import pydicom

    path = Path(path)
    try:
        ds = pydicom.dcmread(path, force=True, stop_before_pixels=True)
    except Exception as exc:  # noqa: BLE001 - any parse failure is shown as a message
        raise UnreadableStudyError(f"{path.name}: DICOM tags could not be read ({exc})") from exc
    nodes = []
    meta = getattr(ds, "file_meta", None)
    if meta is not None and len(meta):
        nodes.append(TagNode("", "File meta information", "", "", _nodes(meta, anonymise)))
    return nodes + _nodes(ds, anonymise)
