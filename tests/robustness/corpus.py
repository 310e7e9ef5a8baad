"""A hostile-input corpus built from the real files in ../shared, plus what each file must give.

``build_corpus(folder)`` writes every case and returns ``{relative name: Expect}``. Cases are made
deterministically (seeded), small on disk (the "huge" ones only *declare* a huge size) and cheap to
generate (well under a second), so the core loader, the headless batch mode and the GUI's folder
triage can each be run over the same folder.
"""

from __future__ import annotations

import io
import os
import random
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, JPEGBaseline8Bit, generate_uid

from ..conftest import DICOM_DIR, NATIVE_DIR

OK = "ok"  # loads and is scored
ERROR = "error"  # a StudyError (per-file reason in batch/GUI)
SKIPPED = "skipped"  # not a candidate image: listed with a reason, never loaded
ANY = "any"  # hostile bytes: either outcome is fine, as long as it is a clean one

UNCOMPRESSED = DICOM_DIR / "gdcm-CR-MONO1-10-chest.dcm"  # 440x440, explicit VR little endian
JPEG_DICOM = DICOM_DIR / "siim_acr_chest_pa.dcm"  # 1024x1024, JPEG baseline
TINY_DICOM = DICOM_DIR / "pydicom_wheel_CR1_6154.dcm"  # 16x16, explicit VR little endian
NATIVE_JPEG = NATIVE_DIR / "NORMAL" / "IM-0319-0001.jpeg"


@dataclass(frozen=True)
class Expect:
    outcome: str  # OK, ERROR, SKIPPED or ANY
    reason: str = ""  # substring of the error / skip message (case-insensitive)
    error_type: str = ""  # StudyError subclass name expected from load_study (ERROR only)


def _ds(path: Path) -> Dataset:
    return pydicom.dcmread(path)


def _save(ds: Dataset, path: Path, enforce: bool = True) -> None:
    ds.save_as(path, enforce_file_format=enforce)


def _save_claiming(ds: Dataset, path: Path, transfer_syntax: str) -> None:
    """Write ``ds`` as explicit VR little endian, elements as they are, but claim ``transfer_syntax``."""
    from pydicom.filebase import DicomBytesIO
    from pydicom.filewriter import write_dataset, write_file_meta_info

    if "PixelData" in ds:
        ds["PixelData"].is_undefined_length = False
    body = DicomBytesIO()
    body.is_little_endian, body.is_implicit_VR = True, False
    write_dataset(body, ds)
    meta = DicomBytesIO()
    meta.is_little_endian, meta.is_implicit_VR = True, False
    ds.file_meta.TransferSyntaxUID = transfer_syntax
    write_file_meta_info(meta, ds.file_meta, enforce_standard=True)
    path.write_bytes(b"\0" * 128 + b"DICM" + meta.getvalue() + body.getvalue())


def _gray_small() -> np.ndarray:
    """A real film, shrunk so that bitmap cases stay small and quick to score."""
    with Image.open(NATIVE_JPEG) as img:
        return np.asarray(img.convert("L").resize((320, 256)))


def _bitflip(data: bytes, n: int, seed: int, start: int = 0) -> bytes:
    rng = random.Random(seed)
    buf = bytearray(data)
    for _ in range(n):
        i = rng.randrange(start, len(buf))
        buf[i] ^= 1 << rng.randrange(8)
    return bytes(buf)


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def _png_declaring(width: int, height: int) -> bytes:
    """A tiny PNG whose header declares width x height 8-bit grey (the data is one zero row)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * (width + 1))
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")


def _patch_jpeg_sof(stream: bytes, height: int, width: int) -> bytes:
    """Rewrite the frame size in a baseline JPEG's SOF0 segment."""
    i = stream.index(b"\xff\xc0")
    return stream[: i + 5] + struct.pack(">HH", height, width) + stream[i + 9 :]


def _jpeg_dicom_with_stream(stream: bytes) -> Dataset:
    ds = _ds(JPEG_DICOM)
    ds.PixelData = pydicom.encaps.encapsulate([stream])
    return ds


def _jpeg_stream(ds: Dataset) -> bytes:
    return next(pydicom.encaps.generate_fragmented_frames(ds.PixelData))[0]


def build_corpus(root: Path) -> dict[str, Expect]:
    root.mkdir(parents=True, exist_ok=True)
    cases: dict[str, Expect] = {}

    def put(name: str, data: bytes, expect: Expect) -> Path:
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
        cases[name] = expect
        return p

    def put_ds(name: str, ds: Dataset, expect: Expect, enforce: bool = True) -> None:
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        _save(ds, p, enforce)
        cases[name] = expect

    raw_unc = UNCOMPRESSED.read_bytes()
    raw_jpg = JPEG_DICOM.read_bytes()

    # --- valid controls: these must still be scored in a folder full of hostile files ---------------
    put("valid/chest.dcm", raw_unc, Expect(OK))
    put("valid/chest-jpeg.dcm", raw_jpg, Expect(OK))
    put("valid/film.jpeg", NATIVE_JPEG.read_bytes(), Expect(OK))
    put("valid/no-extension", raw_unc, Expect(OK))  # DICOM found by its preamble

    # --- truncated and bit-flipped DICOMs -----------------------------------------------------------
    for cut in (100, 132, 140, 600, 4096, len(raw_unc) // 2, len(raw_unc) - 1):
        put(f"dicom/truncated-{cut}.dcm", raw_unc[:cut], Expect(ERROR))
    put("dicom/truncated-jpeg-stream.dcm", raw_jpg[: len(raw_jpg) * 2 // 3], Expect(ERROR))
    for seed in range(6):
        put(
            f"dicom/bitflip-header-{seed}.dcm",
            _bitflip(raw_unc, 12, seed, start=132)[:2000] + raw_unc[2000:],
            Expect(ANY),
        )
        put(f"dicom/bitflip-all-{seed}.dcm", _bitflip(raw_jpg, 40, 100 + seed, start=132), Expect(ANY))

    # --- wrong transfer-syntax UIDs -------------------------------------------------------------------
    def put_claiming(name: str, ds: Dataset, uid: str, expect: Expect) -> None:
        _save_claiming(ds, root / name, uid)
        cases[name] = expect

    put_claiming("dicom/raw-declared-jpeg.dcm", _ds(UNCOMPRESSED), JPEGBaseline8Bit, Expect(ERROR, "decoded"))
    put_claiming("dicom/jpeg-declared-raw.dcm", _ds(JPEG_DICOM), ExplicitVRLittleEndian, Expect(ERROR))
    put_claiming("dicom/unknown-transfer-syntax.dcm", _ds(UNCOMPRESSED), "1.2.3.4.5.6.7.8.9", Expect(ANY))
    put_claiming("dicom/mpeg2-declared.dcm", _ds(UNCOMPRESSED), "1.2.840.10008.1.2.4.100", Expect(ERROR))
    put_claiming("dicom/big-endian-declared.dcm", _ds(UNCOMPRESSED), "1.2.840.10008.1.2.2", Expect(ANY))

    # --- missing pixel data, no image ----------------------------------------------------------------
    ds = _ds(UNCOMPRESSED)
    del ds.PixelData
    put_ds("dicom/no-pixel-data.dcm", ds, Expect(ERROR, "without pixel data", "NotAnImageError"))
    ds = _ds(UNCOMPRESSED)
    ds.PixelData = b""
    put_ds("dicom/empty-pixel-data.dcm", ds, Expect(ERROR))
    ds = _ds(UNCOMPRESSED)
    ds.PixelData = ds.PixelData[: len(ds.PixelData) // 3]
    put_ds("dicom/short-pixel-data.dcm", ds, Expect(ERROR))
    put("dicom/structured-report.dcm", _structured_report(), Expect(ERROR, "without pixel data", "NotAnImageError"))

    # --- declared sizes: 0x0, 20000x20000 (header only: nothing that size may be allocated) -----------
    ds = _ds(UNCOMPRESSED)
    ds.Rows = ds.Columns = 0
    put_ds("dicom/zero-by-zero.dcm", ds, Expect(ERROR, "no pixels", "UnsupportedStudyError"))
    ds = _ds(UNCOMPRESSED)
    ds.Rows = ds.Columns = 20000
    put_ds("dicom/declared-20000.dcm", ds, Expect(ERROR, "larger than", "UnsupportedStudyError"))
    ds = _ds(JPEG_DICOM)
    ds.Rows = ds.Columns = 20000
    put_ds("dicom/declared-20000-jpeg.dcm", ds, Expect(ERROR, "larger than", "UnsupportedStudyError"))
    ds = _ds(JPEG_DICOM)  # the header says 1024x1024, the JPEG stream inside says 20000x20000
    put_ds(
        "dicom/jpeg-stream-20000.dcm",
        _jpeg_dicom_with_stream(_patch_jpeg_sof(_jpeg_stream(ds), 20000, 20000)),
        Expect(ERROR),
    )
    ds = _ds(UNCOMPRESSED)
    del ds.Rows
    put_ds("dicom/no-rows.dcm", ds, Expect(ERROR, "rows"), enforce=False)

    # --- multi-frame, colour, odd pixel formats -------------------------------------------------------
    ds = _ds(UNCOMPRESSED)
    ds.NumberOfFrames = 3
    ds.PixelData = ds.PixelData * 3
    put_ds("dicom/multi-frame.dcm", ds, Expect(ERROR, "multi-frame", "UnsupportedStudyError"))
    ds = _ds(UNCOMPRESSED)
    ds.NumberOfFrames = 99
    _save(ds, root / "dicom/frames-not-a-number.dcm")
    _patch_value(root / "dicom/frames-not-a-number.dcm", 0x0028, 0x0008, b"ab")
    cases["dicom/frames-not-a-number.dcm"] = Expect(ANY)
    put_ds("dicom/rgb.dcm", _rgb_dicom(), Expect(OK))
    ds = _ds(UNCOMPRESSED)
    ds.BitsAllocated = 12  # not a byte multiple for native data
    put_ds("dicom/bits-allocated-12.dcm", ds, Expect(ANY), enforce=False)
    ds = _ds(UNCOMPRESSED)
    ds.SamplesPerPixel = 3  # grey data that claims three samples
    put_ds("dicom/claims-rgb.dcm", ds, Expect(ERROR), enforce=False)
    ds = _ds(UNCOMPRESSED)
    ds.WindowCenter, ds.WindowWidth = "55555", "0"
    _save(ds, root / "dicom/bad-window.dcm")
    _patch_value(root / "dicom/bad-window.dcm", 0x0028, 0x1050, b"abcdef")
    cases["dicom/bad-window.dcm"] = Expect(ANY)
    ds = _ds(UNCOMPRESSED)
    ds.PixelData = np.full((440, 440), 700, np.uint16).tobytes()  # flat image: window width 0
    put_ds("dicom/flat.dcm", ds, Expect(OK))

    # --- bitmaps: 16-bit, palette, alpha, CMYK, EXIF rotation -----------------------------------------
    gray = _gray_small()
    put("bitmap/grey16.png", _encode(Image.fromarray(gray.astype(np.uint16) * 257), "PNG"), Expect(OK))
    put("bitmap/palette.png", _encode(Image.fromarray(gray).convert("P"), "PNG"), Expect(OK))
    rgba = Image.fromarray(gray).convert("RGBA")
    rgba.putalpha(Image.fromarray(np.tile(np.linspace(0, 255, gray.shape[1]), (gray.shape[0], 1)).astype(np.uint8)))
    put("bitmap/alpha.png", _encode(rgba, "PNG"), Expect(OK))
    put("bitmap/grey-alpha.png", _encode(Image.fromarray(gray).convert("LA"), "PNG"), Expect(OK))
    put("bitmap/cmyk.jpg", _encode(Image.fromarray(gray).convert("CMYK"), "JPEG"), Expect(OK))
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 CW to display
    put("bitmap/exif-rotated.jpg", _encode(Image.fromarray(gray), "JPEG", exif=exif.tobytes()), Expect(OK))
    put("bitmap/declared-20000.png", _png_declaring(20000, 20000), Expect(ERROR))
    put("bitmap/declared-9000.png", _png_declaring(9000, 9000), Expect(ERROR, "larger than"))
    put("bitmap/zero-width.png", _png_declaring(0, 10), Expect(ERROR))
    put("bitmap/jpeg-20000.jpg", _patch_jpeg_sof(_encode(Image.fromarray(gray), "JPEG"), 20000, 20000), Expect(ERROR))
    native = NATIVE_JPEG.read_bytes()
    put("bitmap/truncated.jpeg", native[: len(native) // 3], Expect(ERROR, "corrupt or truncated"))
    png = _encode(Image.fromarray(gray), "PNG")
    put("bitmap/truncated.png", png[: len(png) // 2], Expect(ERROR))
    put("bitmap/animated.png", _animated_png(gray), Expect(ERROR, "multi-frame"))

    # --- zero-byte and random files with image extensions ---------------------------------------------
    rng = random.Random(7)
    for ext in ("png", "jpg", "jpeg", "dcm"):
        put(f"junk/zero.{ext}", b"", Expect(ERROR, "empty"))
        put(f"junk/random.{ext}", rng.randbytes(3000), Expect(ERROR))
    put("junk/random-with-preamble", rng.randbytes(128) + b"DICM" + rng.randbytes(2000), Expect(ANY))
    put("junk/png-magic-only.bin", b"\x89PNG\r\n\x1a\n" + rng.randbytes(100), Expect(ERROR))
    put("junk/notes.txt", b"plain text, not an image", Expect(SKIPPED, "not a png"))
    return cases


def add_links(root: Path) -> dict[str, Expect]:
    """Symlink loops, dangling links and a link back up the tree (skipped or refused, never followed forever)."""
    links = root / "links"
    links.mkdir(parents=True, exist_ok=True)
    os.symlink("loop-b.dcm", links / "loop-a.dcm")
    os.symlink("loop-a.dcm", links / "loop-b.dcm")
    os.symlink("self.png", links / "self.png")
    os.symlink("missing-target.jpeg", links / "dangling.jpeg")
    os.symlink("..", links / "up")  # directory loop: walking must not follow it
    os.symlink(".", links / "here")
    why = Expect(SKIPPED, "not a regular file")
    return {"links/loop-a.dcm": why, "links/loop-b.dcm": why, "links/self.png": why, "links/dangling.jpeg": why}


def _patch_value(path: Path, group: int, element: int, value: bytes) -> None:
    """Overwrite an explicit-VR short element's value in place (same length): invalid values pydicom won't set."""
    data = path.read_bytes()
    tag = struct.pack("<HH", group, element)
    i = data.index(tag, 132)
    length = struct.unpack("<H", data[i + 6 : i + 8])[0]
    assert length == len(value), (length, value)
    path.write_bytes(data[: i + 8] + value + data[i + 8 + length :])


def _encode(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def _animated_png(gray: np.ndarray) -> bytes:
    frames = [Image.fromarray(gray), Image.fromarray(255 - gray)]
    buf = io.BytesIO()
    frames[0].save(buf, "PNG", save_all=True, append_images=frames[1:])
    return buf.getvalue()


def _rgb_dicom() -> Dataset:
    ds = _ds(UNCOMPRESSED)
    grey = (ds.pixel_array.astype(np.float32) / 1023 * 255).astype(np.uint8)
    rgb = np.stack([grey, grey // 2, 255 - grey], axis=-1)
    ds.SamplesPerPixel = 3
    ds.PhotometricInterpretation = "RGB"
    ds.PlanarConfiguration = 0
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    for kw in ("WindowCenter", "WindowWidth", "RescaleIntercept", "RescaleSlope"):
        if kw in ds:
            delattr(ds, kw)
    ds.PixelData = rgb.tobytes()
    return ds


def _structured_report() -> bytes:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.88.11"  # Basic Text SR
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "SR"
    ds.PatientName = "Robustness^Test"
    ds.ValueType = "CONTAINER"
    item = Dataset()
    item.RelationshipType = "CONTAINS"
    item.ValueType = "TEXT"
    item.TextValue = "No image in this object."
    ds.ContentSequence = [item]
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()
