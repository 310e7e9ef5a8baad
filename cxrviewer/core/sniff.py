"""What a file is, from its first bytes: DICOM (Part 10 or a raw dataset), PNG or JPEG. The suffix is a hint only.

Chest films arrive as ``IM0001`` from a CD, as ``.dcm`` that is really a JPEG, or as ACR-NEMA / legacy CR
exports that start straight with a data element (no 128-byte preamble, no ``DICM``, implicit VR little
endian). :func:`sniff_bytes` recognises all of these without any DICOM library.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

DICOM = "dicom"  # Part 10 file: 128-byte preamble + "DICM"
DICOM_RAW = "dicom-raw"  # a dataset without preamble (ACR-NEMA, legacy exports, some PACS dumps)
PNG = "png"
JPEG = "jpeg"

DICOM_KINDS = (DICOM, DICOM_RAW)
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".jpe", ".dcm", ".dicom", ".dic"})
DICOMDIR_SOP_CLASS = b"1.2.840.10008.1.3.10"

HEAD_BYTES = 1024  # enough for the preamble, the file meta group and the first elements of a raw dataset
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
JPEG_MAGIC = b"\xff\xd8\xff"
_PREAMBLE = 128

# Groups a dataset may start with: file meta (0002), and for raw datasets the identifying group (0008) or,
# for stripped exports, a later module's group. Group 0000 (command) is accepted for ACR-NEMA 1.0 dumps.
_LAST_FIRST_GROUP = 0x0050
_VRS = frozenset(
    b"AE AS AT CS DA DS DT FD FL IS LO LT OB OD OF OL OV OW PN SH SL SQ SS ST SV TM UC UI UL UN UR US UT UV".split()
)
_LONG_VRS = frozenset({b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"UC", b"UN", b"UR", b"UT", b"SV", b"UV"})


def read_head(path: str | os.PathLike, size: int = HEAD_BYTES) -> bytes:
    """The first ``size`` bytes of a file; empty when it cannot be read."""
    try:
        with open(path, "rb") as fh:
            return fh.read(size)
    except OSError:
        return b""


def sniff_bytes(head: bytes, file_size: int | None = None) -> str | None:
    """:data:`DICOM`, :data:`DICOM_RAW`, :data:`PNG`, :data:`JPEG`, or ``None`` for anything else."""
    if len(head) >= _PREAMBLE + 4 and head[_PREAMBLE : _PREAMBLE + 4] == b"DICM":
        return DICOM
    if head.startswith(PNG_MAGIC):
        return PNG
    if head.startswith(JPEG_MAGIC):
        return JPEG
    if head.startswith(b"DICM") and _raw_dataset(head[4:], None):  # preamble stripped, marker kept
        return DICOM_RAW
    if _raw_dataset(head, file_size):
        return DICOM_RAW
    return None


def sniff_file(path: str | os.PathLike) -> str | None:
    """The kind of file at ``path`` by content (see :func:`sniff_bytes`); ``None`` if unreadable or unknown."""
    head = read_head(path)
    try:
        size = os.path.getsize(path)
    except OSError:
        size = None
    return sniff_bytes(head, size)


def is_dicom_content(path: str | os.PathLike) -> bool:
    return sniff_file(path) in DICOM_KINDS


def looks_like_study(path: str | os.PathLike) -> bool:
    """A candidate for :func:`~cxrviewer.core.study.load_study`: DICOM, PNG or JPEG by content, or, when the
    content is not recognised, by an image suffix (so that an empty or damaged ``.dcm`` gets a reason)."""
    return sniff_file(path) is not None or Path(path).suffix.lower() in IMAGE_SUFFIXES


def is_dicomdir(path: str | os.PathLike) -> bool:
    """A DICOMDIR (media directory): its file meta names the Media Storage Directory SOP class."""
    head = read_head(path, 2048)
    return sniff_bytes(head) in DICOM_KINDS and DICOMDIR_SOP_CLASS in head


def _raw_dataset(head: bytes, file_size: int | None) -> bool:
    """True when ``head`` parses as the first data elements of a dataset (implicit or explicit VR, either
    byte order): a plausible first group, ascending tags, lengths that fit the file."""
    return any(_walk(head, little, explicit, file_size) for little in (True, False) for explicit in (False, True))


def _walk(head: bytes, little: bool, explicit: bool, file_size: int | None) -> bool:
    end = "<" if little else ">"
    limit = file_size if file_size is not None else 1 << 32
    pos, seen, last = 0, 0, (-1, -1)
    while pos + 8 <= len(head) and seen < 4:
        group, element = struct.unpack(end + "HH", head[pos : pos + 4])
        if seen == 0 and group > _LAST_FIRST_GROUP:
            return False
        if group % 2 or (group, element) <= last or group > 0x7FE0:
            return False
        last = (group, element)
        if explicit:
            vr = head[pos + 4 : pos + 6]
            if vr not in _VRS:
                return False
            if vr in _LONG_VRS:
                if pos + 12 > len(head):
                    break
                if head[pos + 6 : pos + 8] != b"\0\0":
                    return False
                length = struct.unpack(end + "I", head[pos + 8 : pos + 12])[0]
                header = 12
            else:
                length = struct.unpack(end + "H", head[pos + 6 : pos + 8])[0]
                header = 8
        else:
            length = struct.unpack(end + "I", head[pos + 4 : pos + 8])[0]
            header = 8
        if length == 0xFFFFFFFF:  # undefined length (a sequence or encapsulated pixel data): stop here
            return seen >= 1 or group in (0x0008, 0x0002)
        if pos + header + length > limit:
            return False
        if not explicit and group == 0x0008 and length > 0x10000:
            return False
        pos += header + length
        seen += 1
    if seen >= 2:
        return True
    # a single element that ends exactly at the end of a short file still counts
    return seen == 1 and file_size is not None and pos == file_size
