"""Fit, measure and write the population gate: resources/input_gate/gate.onnx + gate.json.

    .venv/bin/python tools/build_input_gate.py            # features cached under runs/input_gate/

What it does (docs/input_checks.md, section 3):

1. lists the data: Kermany train split by patient into a fitting part and a calibration part (the patients of
   ../shared/data/native and native1024 are left out of both, so those folders measure honestly), external
   adult films (groups cohen / actualmed / jsrt), Kermany test_public (measurement only), native1024, native,
   the DICOMs;
2. makes deterministic (seeded) variants: Kermany films at simulated original resolutions (upscaled to a
   random size and aspect, re-encoded), external films processed like the Kermany 224 px files (squashed to
   224 and re-encoded) or at random resolutions, synthetic phone photos of films (``make_photo``) and
   synthetic non-chest images (``make_non_chest``);
3. brings every image through ``cxrviewer.core.input_gate.normalise_for_gate`` and extracts pooled ImageNet
   MobileNetV2 features at several depths (cached in runs/input_gate/features_*.npz);
4. compares candidate gates with leave-one-group-out (LOGO) over the external groups, each with an operating
   point set on the calibration part of Kermany train (224 px and simulated original resolutions);
5. fits the chosen gate on everything allowed, exports one ONNX graph (backbone + pooled features + classifier
   + distance), checks it against PyTorch, writes gate.json (operating point, sha256, measured rates with
   Wilson 95 % intervals, the command) and prints a markdown table.

The photo and non-chest generators need only numpy and Pillow (the tests import them).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from cxrviewer.core import load_study  # noqa: E402
from cxrviewer.core.input_gate import (  # noqa: E402
    CONFIG_FILE,
    GATE_BLUR_RADIUS,
    GATE_JPEG_QUALITY,
    GATE_SIZE,
    GRAPH_FILE,
    gate_scores,
    normalise_for_gate,
    outside_logit,
)

SHARED = REPO.parent / "shared" / "data"
CLASSES = ("kermany", "adult", "photo", "lateral", "non-chest")
K_KERMANY, K_ADULT, K_PHOTO, K_LATERAL, K_NONCHEST = range(5)
GROUPS = ("cohen", "actualmed", "jsrt")
FEATURE_VERSION = "v3"
TAPS = (3, 6, 10, 13, 16, 17, 18)  # MobileNetV2 feature blocks whose outputs are pooled
GRID_TAPS = (13, 17)  # also pooled on a 2x2 grid (layout: where the film is in the frame)
TAP_CHANNELS = {3: 24, 6: 32, 10: 64, 13: 96, 16: 160, 17: 320, 18: 1280}


# --------------------------------------------------------------------------------------------------------
# image helpers (numpy + Pillow)
# --------------------------------------------------------------------------------------------------------
def to_u8(a: np.ndarray) -> np.ndarray:
    return np.round(np.clip(a, 0.0, 1.0) * 255.0).astype(np.uint8)


def jpeg(a: np.ndarray, quality: int, rgb: bool = False) -> np.ndarray:
    img = Image.fromarray(to_u8(a), mode="L")
    if rgb:
        img = img.convert("RGB")
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=int(quality))
    buf.seek(0)
    with Image.open(buf) as dec:
        return np.asarray(dec.convert("L"), dtype=np.float32) / 255.0


def resize(a: np.ndarray, w: int, h: int, method=Image.Resampling.BILINEAR) -> np.ndarray:
    img = Image.fromarray(np.ascontiguousarray(a, dtype=np.float32), mode="F")
    return np.clip(np.asarray(img.resize((max(1, int(w)), max(1, int(h))), method), dtype=np.float32), 0, 1)


def blur(a: np.ndarray, radius: float) -> np.ndarray:
    if radius <= 0:
        return a
    img = Image.fromarray(to_u8(a), mode="L").filter(ImageFilter.GaussianBlur(radius))
    return np.asarray(img, dtype=np.float32) / 255.0


def as_original(film224: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A 224 px Kermany file brought to a simulated original resolution, aspect and encoding."""
    longer = int(rng.integers(480, 1400))
    aspect = float(rng.uniform(1.0, 1.6))  # originals are mostly landscape, some portrait
    w, h = (longer, int(longer / aspect)) if rng.random() < 0.8 else (int(longer / aspect), longer)
    method = [Image.Resampling.BICUBIC, Image.Resampling.LANCZOS, Image.Resampling.BILINEAR][int(rng.integers(3))]
    a = resize(film224, w, h, method)
    if rng.random() < 0.5:
        gamma = float(rng.uniform(0.85, 1.15))
        a = np.clip(a, 0, 1) ** gamma
    if rng.random() < 0.3:
        a = blur(a, float(rng.uniform(0.3, 1.5)))
    return jpeg(a, int(rng.integers(70, 97)))


def external_variant(film: np.ndarray, rng: np.random.Generator, mode: str) -> np.ndarray:
    """External film processed like the Kermany 224 px files ("k224") or at another resolution ("res")."""
    if mode == "k224":
        return jpeg(resize(film, 224, 224), int(rng.integers(75, 96)), rgb=True)
    h, w = film.shape
    s = float(rng.uniform(0.3, 1.0)) * 1024 / max(h, w)
    a = resize(film, max(64, int(w * min(s, 1.5))), max(64, int(h * min(s, 1.5))), Image.Resampling.LANCZOS)
    if rng.random() < 0.5:
        a = np.clip(a, 0, 1) ** float(rng.uniform(0.85, 1.15))
    return jpeg(a, int(rng.integers(60, 97)))


def _perspective_coeffs(src: np.ndarray, dst: np.ndarray) -> list[float]:
    """Pillow PERSPECTIVE coefficients mapping output (dst) points back to input (src) points."""
    rows = []
    for (x, y), (u, v) in zip(dst, src):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
    a = np.asarray(rows, dtype=np.float64)
    b = src.reshape(-1).astype(np.float64)
    return list(np.linalg.solve(a, b))


def _background(h: int, w: int, scene: str, rng: np.random.Generator) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    yy /= h
    xx /= w
    if scene == "lightbox":  # bright diffuse panel, slightly uneven, panel frame at one side
        bg = float(rng.uniform(0.8, 0.98)) + 0.08 * (xx - 0.5) * rng.uniform(-1, 1) + 0.05 * (yy - 0.5)
        if rng.random() < 0.6:  # the dark frame / wall beyond the lightbox
            edge = int(rng.integers(0, 4))
            t = float(rng.uniform(0.03, 0.15))
            dark = float(rng.uniform(0.05, 0.35))
            mask = [yy < t, yy > 1 - t, xx < t, xx > 1 - t][edge]
            bg = np.where(mask, dark, bg)
    elif scene == "monitor":  # dark room around a bezel
        bg = float(rng.uniform(0.05, 0.4)) + 0.15 * (yy - 0.5) * rng.uniform(-1, 1)
    else:  # room: desk / wall / clothing, textured
        base = float(rng.uniform(0.2, 0.75))
        noise = rng.normal(0, 1, (max(2, h // 32), max(2, w // 32))).astype(np.float32)
        tex = resize((noise - noise.min()) / (np.ptp(noise) + 1e-6), w, h, Image.Resampling.BICUBIC)
        grain = np.sin(2 * np.pi * (xx * rng.uniform(3, 20) + 0.3 * tex)) * 0.04
        bg = base + 0.2 * (tex - 0.5) + grain + 0.1 * (xx - 0.5) * rng.uniform(-1, 1)
    return np.clip(np.asarray(bg, dtype=np.float32) * np.ones((h, w), np.float32), 0, 1)


def make_photo(film: np.ndarray, seed: int) -> np.ndarray:
    """A deterministic synthetic phone photo (greyscale, [0, 1]) of ``film`` on a lightbox, a monitor or a desk.

    Perspective warp and rotation, the scene around the film (lightbox panel, monitor bezel and UI, room),
    for monitors a pixel grid / moire and a raised black level, illumination gradient, vignetting, glare,
    defocus, sensor noise, a colour cast then conversion to greyscale, JPEG; in a third of the photos the
    frame is cropped tightly to the film (little or no background left).
    """
    rng = np.random.default_rng(seed)
    scene = ["lightbox", "monitor", "room"][int(rng.integers(3))]
    longer = int(rng.integers(720, 1152))
    portrait = rng.random() < 0.6
    h, w = (longer, int(longer * 3 / 4)) if portrait else (int(longer * 3 / 4), longer)
    canvas = _background(h, w, scene, rng)
    fh, fw = film.shape
    src = film.astype(np.float32)
    if scene == "monitor":
        # the screen: a viewer window (dark UI, toolbar strips) with the film letterboxed in it
        sh, sw = int(h * rng.uniform(0.6, 0.9)), int(w * rng.uniform(0.6, 0.95))
        screen = np.full((sh, sw), float(rng.uniform(0.02, 0.15)), np.float32)
        tb = int(sh * rng.uniform(0.03, 0.08))
        screen[:tb] = float(rng.uniform(0.15, 0.5))
        draw_rects = int(rng.integers(3, 10))
        for _ in range(draw_rects):  # buttons / text in the toolbar and side panels
            x0 = int(rng.integers(0, sw - 10))
            screen[2 : max(3, tb - 2), x0 : x0 + int(rng.integers(5, 40))] = float(rng.uniform(0.4, 0.9))
        scale = min((sh - tb) * 0.95 / fh, sw * rng.uniform(0.6, 0.95) / fw)
        iw, ih = max(8, int(fw * scale)), max(8, int(fh * scale))
        img = resize(src, iw, ih)
        black = float(rng.uniform(0.03, 0.15))
        img = black + (1 - black - float(rng.uniform(0, 0.1))) * img ** float(rng.uniform(0.8, 1.25))
        oy, ox = tb + (sh - tb - ih) // 2, int((sw - iw) * rng.uniform(0.2, 0.8))
        screen[oy : oy + ih, ox : ox + iw] = img
        # pixel grid (sub-pixel stripes) that aliases into moire when the photo is resampled
        period = float(rng.uniform(2.2, 4.5))
        ang = float(rng.uniform(-0.2, 0.2))
        yy, xx = np.mgrid[0:sh, 0:sw].astype(np.float32)
        grid = 0.5 + 0.5 * np.cos(2 * np.pi * (xx * math.cos(ang) + yy * math.sin(ang)) / period)
        screen = screen * (1 - float(rng.uniform(0.05, 0.25)) * grid)
        bez = int(min(sh, sw) * rng.uniform(0.02, 0.07))
        frame = np.full((sh + 2 * bez, sw + 2 * bez), float(rng.uniform(0.02, 0.12)), np.float32)
        frame[bez:-bez, bez:-bez] = screen
        src = frame
        fill = float(rng.uniform(0.7, 1.0))
    elif scene == "lightbox":
        # film with its dark unexposed border and a marker / label
        pad = int(max(fh, fw) * rng.uniform(0.0, 0.06))
        sheet = np.full((fh + 2 * pad, fw + 2 * pad), float(rng.uniform(0.0, 0.15)), np.float32)
        sheet[pad : pad + fh, pad : pad + fw] = src
        if rng.random() < 0.5:
            y0, x0 = int(rng.integers(0, max(1, fh // 5))), int(rng.integers(0, max(1, fw - fw // 5)))
            sheet[y0 : y0 + fh // 12 + 1, x0 : x0 + fw // 6 + 1] = float(rng.uniform(0.7, 1.0))
        src = sheet
        fill = float(rng.uniform(0.6, 0.95))
    else:  # room: a film (or a print of it) held up / on a desk
        src = src ** float(rng.uniform(0.8, 1.3))
        fill = float(rng.uniform(0.55, 0.95))
    # perspective warp of the source into the canvas
    sh, sw = src.shape
    scale = fill * min(h / sh, w / sw)
    tw, th = sw * scale, sh * scale
    cx, cy = w / 2 + rng.uniform(-0.1, 0.1) * w, h / 2 + rng.uniform(-0.1, 0.1) * h
    rot = float(rng.uniform(-0.12, 0.12))
    corners = np.array([[-tw / 2, -th / 2], [tw / 2, -th / 2], [tw / 2, th / 2], [-tw / 2, th / 2]])
    c, s = math.cos(rot), math.sin(rot)
    corners = corners @ np.array([[c, s], [-s, c]])
    jitter = rng.uniform(-0.09, 0.09, (4, 2)) * np.array([tw, th])
    keystone = rng.uniform(-0.08, 0.08) * tw  # camera tilted up/down: one edge shorter
    corners[0, 0] += keystone
    corners[1, 0] -= keystone
    dst = corners + jitter + np.array([cx, cy])
    src_pts = np.array([[0, 0], [sw, 0], [sw, sh], [0, sh]], dtype=np.float64)
    coeffs = _perspective_coeffs(src_pts, dst)
    src_img = Image.fromarray(to_u8(src), mode="L")
    warped = np.asarray(
        src_img.transform((w, h), Image.Transform.PERSPECTIVE, coeffs, Image.Resampling.BILINEAR, fillcolor=0),
        dtype=np.float32,
    )
    mask_img = Image.new("L", (sw, sh), 255).transform(
        (w, h), Image.Transform.PERSPECTIVE, coeffs, Image.Resampling.BILINEAR, fillcolor=0
    )
    mask = np.asarray(mask_img, dtype=np.float32) / 255.0
    out = canvas * (1 - mask) + (warped / 255.0) * mask
    if scene == "lightbox":  # transmitted light: the panel shines through the film's clear parts
        out = np.clip(out * float(rng.uniform(0.9, 1.15)) + 0.05, 0, 1)
    # illumination: gradient, vignetting, glare
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    yn, xn = yy / h - 0.5, xx / w - 0.5
    gx, gy = rng.uniform(-0.35, 0.35, 2)
    out = out * (1 + gx * xn + gy * yn)
    r2 = (xn**2 + yn**2) / 0.5
    out = out * (1 - float(rng.uniform(0.1, 0.5)) * r2)
    for _ in range(int(rng.integers(1, 3))):
        gxc, gyc = rng.uniform(-0.4, 0.4, 2)
        sig = float(rng.uniform(0.04, 0.25))
        amp = float(rng.uniform(0.08, 0.5))
        elong = float(rng.uniform(0.4, 2.5))
        out = out + amp * np.exp(-(((xn - gxc) / (sig * elong)) ** 2 + ((yn - gyc) / sig) ** 2) / 2)
    if scene == "monitor" and rng.random() < 0.5:  # reflection of a window / lamp on the screen
        band = np.exp(-(((xn * 0.8 + yn * rng.uniform(-1, 1)) - rng.uniform(-0.3, 0.3)) ** 2) / 0.01)
        out = out + float(rng.uniform(0.05, 0.2)) * band
    # tight crop to the film (keeping a sliver of what is around it, or none)
    if rng.random() < 0.35:
        x0, y0 = dst.min(axis=0)
        x1, y1 = dst.max(axis=0)
        m = float(rng.uniform(-0.04, 0.05))
        x0, x1 = x0 - m * (x1 - x0), x1 + m * (x1 - x0)
        y0, y1 = y0 - m * (y1 - y0), y1 + m * (y1 - y0)
        x0, y0 = max(0, int(x0)), max(0, int(y0))
        x1, y1 = min(w, int(x1)), min(h, int(y1))
        if x1 - x0 > 32 and y1 - y0 > 32:
            out = out[y0:y1, x0:x1]
    # camera: defocus, auto-exposure tone curve, colour cast then greyscale, noise, JPEG
    out = blur(np.clip(out, 0, 1), float(rng.uniform(0.0, 1.8)))
    lo, hi = np.percentile(out, [float(rng.uniform(0, 3)), float(rng.uniform(97, 100))])
    out = np.clip((out - lo) / max(hi - lo, 1e-3), 0, 1) ** float(rng.uniform(0.75, 1.3))
    cast = rng.uniform(0.85, 1.15, 3).astype(np.float32)
    rgb = np.clip(out[..., None] * cast + rng.normal(0, rng.uniform(0.004, 0.03), out.shape + (3,)), 0, 1)
    img = Image.fromarray(to_u8(rgb), mode="RGB")
    if rng.random() < 0.5:  # messaging apps / screenshots of the photo shrink it
        f = float(rng.uniform(0.5, 0.9))
        img = img.resize((max(32, int(img.width * f)), max(32, int(img.height * f))), Image.Resampling.BILINEAR)
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=int(rng.integers(60, 93)))
    buf.seek(0)
    with Image.open(buf) as dec:
        return np.asarray(dec.convert("L"), dtype=np.float32) / 255.0


def make_non_chest(films: list[np.ndarray], seed: int) -> np.ndarray:
    """A deterministic synthetic non-chest image: CT-like slice, zoomed radiograph detail, document/screenshot,
    natural-image crop or texture."""
    rng = np.random.default_rng(seed)
    kind = int(rng.integers(5))
    h = w = int(rng.integers(256, 640))
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    yn, xn = yy / h - 0.5, xx / w - 0.5
    if kind == 0:  # CT-like axial slice: body ellipse, lungs, spine, table
        a = np.full((h, w), float(rng.uniform(0, 0.05)), np.float32)
        bw, bh = rng.uniform(0.35, 0.48), rng.uniform(0.25, 0.4)
        a[(xn / bw) ** 2 + (yn / bh) ** 2 < 1] = float(rng.uniform(0.35, 0.6))
        for side in (-1, 1):
            lx, lw, lh = side * rng.uniform(0.12, 0.2), rng.uniform(0.08, 0.14), rng.uniform(0.12, 0.25)
            a[((xn - lx) / lw) ** 2 + ((yn + 0.02) / lh) ** 2 < 1] = float(rng.uniform(0.0, 0.12))
        a[(xn / 0.05) ** 2 + ((yn - bh * 0.6) / 0.05) ** 2 < 1] = float(rng.uniform(0.85, 1.0))
        a[((xn + rng.uniform(-0.05, 0.05)) / 0.07) ** 2 + ((yn + 0.05) / 0.08) ** 2 < 1] = float(rng.uniform(0.5, 0.7))
        a[yn > bh + 0.05] = np.where(np.abs(yn[yn > bh + 0.05] - bh - 0.08) < 0.01, 0.6, a[yn > bh + 0.05])
        a = blur(a + rng.normal(0, 0.03, a.shape).astype(np.float32), 1.0)
    elif kind == 1:  # a detail of a radiograph (shoulder, abdomen, an edge): not a whole chest
        f = films[int(rng.integers(len(films)))]
        fh, fw = f.shape
        s = float(rng.uniform(0.2, 0.4))
        ch, cw = max(16, int(fh * s)), max(16, int(fw * s))
        y0, x0 = int(rng.integers(0, fh - ch + 1)), int(rng.integers(0, fw - cw + 1))
        a = resize(f[y0 : y0 + ch, x0 : x0 + cw], w, h, Image.Resampling.BICUBIC)
        if rng.random() < 0.5:
            a = np.rot90(a, int(rng.integers(1, 4))).copy()
    elif kind == 2:  # a document / screenshot: text lines and boxes
        img = Image.new("L", (w, h), int(rng.integers(180, 256)) if rng.random() < 0.7 else int(rng.integers(0, 60)))
        d = ImageDraw.Draw(img)
        ink = 0 if np.asarray(img).mean() > 128 else 230
        y = int(rng.integers(5, 30))
        while y < h - 10:
            x = int(rng.integers(5, 30))
            words = "".join(chr(int(rng.integers(97, 123))) if rng.random() > 0.15 else " " for _ in range(60))
            d.text((x, y), words, fill=ink)
            y += int(rng.integers(10, 24))
        for _ in range(int(rng.integers(0, 4))):
            x0, y0 = int(rng.integers(0, w - 40)), int(rng.integers(0, h - 40))
            d.rectangle(
                [x0, y0, x0 + int(rng.integers(20, w // 2)), y0 + int(rng.integers(20, h // 3))],
                outline=ink,
                fill=int(rng.integers(0, 256)) if rng.random() < 0.5 else None,
            )
        a = np.asarray(img, dtype=np.float32) / 255.0
    elif kind == 3:  # natural photograph crop (the two scikit-learn sample images: a building, a flower)
        a = _natural_crop(rng, w, h)
    else:  # smooth texture / gradient / noise
        noise = rng.normal(0, 1, (int(rng.integers(2, 24)),) * 2).astype(np.float32)
        a = resize((noise - noise.min()) / (np.ptp(noise) + 1e-6), w, h, Image.Resampling.BICUBIC)
        a = np.clip(a + rng.normal(0, rng.uniform(0, 0.1), a.shape).astype(np.float32), 0, 1)
    if rng.random() < 0.5:  # vary the aspect
        a = resize(a, int(w * rng.uniform(0.6, 1.4)), h)
    return jpeg(np.clip(a, 0, 1), int(rng.integers(70, 96)))


_NATURAL: list[np.ndarray] = []


def _natural_crop(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    if not _NATURAL:
        try:
            from sklearn.datasets import load_sample_images

            _NATURAL.extend(np.asarray(i, dtype=np.float32).mean(axis=2) / 255.0 for i in load_sample_images().images)
        except Exception:  # noqa: BLE001 - without scikit-learn: a smooth random scene instead
            _NATURAL.append(resize(np.random.default_rng(0).random((8, 8)).astype(np.float32), 640, 427))
    src = _NATURAL[int(rng.integers(len(_NATURAL)))]
    sh, sw = src.shape
    s = float(rng.uniform(0.3, 1.0))
    ch, cw = int(sh * s), int(sw * s)
    y0, x0 = int(rng.integers(0, sh - ch + 1)), int(rng.integers(0, sw - cw + 1))
    return resize(src[y0 : y0 + ch, x0 : x0 + cw], w, h)


# --------------------------------------------------------------------------------------------------------
# statistics
# --------------------------------------------------------------------------------------------------------
def wilson(k: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    if n == 0:
        return (float("nan"), float("nan"))
    p = k / n
    d = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / d
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return (max(0.0, centre - half), min(1.0, centre + half))


def rate(flags) -> dict:
    flags = np.asarray(flags, dtype=bool)
    k, n = int(flags.sum()), int(flags.size)
    lo, hi = wilson(k, n)
    return {"withheld": k, "n": n, "rate": round(k / n, 4) if n else None, "ci95": [round(lo, 4), round(hi, 4)]}


def fmt(r: dict) -> str:
    if not r["n"]:
        return "n/a"
    return f"{100 * r['rate']:.1f} % ({r['withheld']}/{r['n']}; {100 * r['ci95'][0]:.1f}-{100 * r['ci95'][1]:.1f})"


# --------------------------------------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------------------------------------
def load_pixels(path: Path) -> np.ndarray:
    return load_study(path).pixels


def kermany_split(seed: int, n_fit: int, n_cal: int) -> tuple[list[Path], list[Path]]:
    """Kermany train films split by patient (fit / calibration), leaving out native and native1024 patients."""
    from trainer.data import patient_id, scan_images

    held = {patient_id(p.name) for d in ("native", "native1024") for p in (SHARED / d).rglob("*.jp*g")}
    records = [r for r in scan_images(SHARED / "kermany224" / "train") if r.patient not in held]
    patients = sorted({r.patient for r in records})
    rng = np.random.default_rng(seed)
    rng.shuffle(patients)
    cal_patients = set(patients[: int(0.3 * len(patients))])
    fit = [r.path for r in records if r.patient not in cal_patients]
    cal = [r.path for r in records if r.patient in cal_patients]
    fit = [fit[i] for i in sorted(rng.choice(len(fit), min(n_fit, len(fit)), replace=False))]
    cal = [cal[i] for i in sorted(rng.choice(len(cal), min(n_cal, len(cal)), replace=False))]
    return fit, cal


def external_rows() -> list[dict]:
    with open(SHARED / "external_adult" / "manifest.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def external_class(view: str) -> int:
    return {"PA": K_ADULT, "AP": K_ADULT, "lateral": K_LATERAL, "CT": K_NONCHEST}[view]


def image_sets(args) -> dict[str, dict]:
    """name -> {"make": [callables returning pixels], "y": labels, "group": groups, "src": ids}."""
    fit, cal = kermany_split(args.seed, args.n_fit, args.n_cal)
    ext = external_rows()
    ext_path = lambda r: SHARED / "external_adult" / r["file"]  # noqa: E731
    tp = sorted((SHARED / "kermany224" / "test_public").rglob("*.jp*g"))
    sets: dict[str, dict] = {}

    def add(name, items):  # items: (callable, label, group, src)
        sets[name] = {
            "make": [i[0] for i in items],
            "y": np.array([i[1] for i in items], dtype=np.int64),
            "group": np.array([i[2] for i in items]),
            "src": [i[3] for i in items],
        }

    add("k_fit", [(lambda p=p: load_pixels(p), K_KERMANY, "kermany", p.name) for p in fit])
    add(
        "k_fit_orig",
        [
            (lambda p=p, i=i: as_original(load_pixels(p), np.random.default_rng([1, i])), K_KERMANY, "kermany", p.name)
            for i, p in enumerate(fit)
        ],
    )
    add("k_cal", [(lambda p=p: load_pixels(p), K_KERMANY, "kermany", p.name) for p in cal])
    add(
        "k_cal_orig",
        [
            (lambda p=p, i=i: as_original(load_pixels(p), np.random.default_rng([2, i])), K_KERMANY, "kermany", p.name)
            for i, p in enumerate(cal)
        ],
    )
    nph = args.n_photo_fit
    add(
        "k_fit_photo",
        [
            (lambda p=p, i=i: make_photo(load_pixels(p), 100_000 + i), K_PHOTO, "kermany", p.name)
            for i, p in enumerate(fit[:nph])
        ],
    )
    add(
        "k_cal_photo",
        [
            (lambda p=p, i=i: make_photo(load_pixels(p), 200_000 + i), K_PHOTO, "kermany", p.name)
            for i, p in enumerate(cal[: args.n_photo_cal])
        ],
    )
    add("ext", [(lambda r=r: load_pixels(ext_path(r)), external_class(r["view"]), r["group"], r["file"]) for r in ext])
    for seed, mode in ((3, "k224"), (4, "res")):  # external films squashed like Kermany, and at other sizes
        add(
            f"ext_{mode}",
            [
                (
                    lambda r=r, i=i, seed=seed, mode=mode: external_variant(
                        load_pixels(ext_path(r)), np.random.default_rng([seed, i]), mode
                    ),
                    external_class(r["view"]),
                    r["group"],
                    r["file"],
                )
                for i, r in enumerate(ext)
            ],
        )
    frontal = [r for r in ext if r["view"] in ("PA", "AP")]
    add(
        "ext_photo",
        [
            (lambda r=r, i=i: make_photo(load_pixels(ext_path(r)), 300_000 + i), K_PHOTO, r["group"], r["file"])
            for i, r in enumerate(frontal)
        ],
    )
    pool = fit[:200]
    add(
        "nonchest",
        [
            (
                lambda i=i: make_non_chest([load_pixels(p) for p in _pick(pool, i)], 400_000 + i),
                K_NONCHEST,
                "synthetic",
                f"nonchest-{i}",
            )
            for i in range(args.n_nonchest)
        ],
    )
    add("test_public", [(lambda p=p: load_pixels(p), K_KERMANY, "test_public", p.name) for p in tp])
    add(
        "tp_photo",
        [
            (lambda p=p, i=i: make_photo(load_pixels(p), 500_000 + i), K_PHOTO, "test_public", p.name)
            for i, p in enumerate(tp)
        ],
    )
    n1024 = sorted((SHARED / "native1024").rglob("*.jp*g"))
    add("native1024", [(lambda p=p: load_pixels(p), K_KERMANY, "native1024", p.name) for p in n1024])
    nat = sorted((SHARED / "native").rglob("*.jp*g"))
    add("native", [(lambda p=p: load_pixels(p), K_KERMANY, "native", p.name) for p in nat])
    dicoms = {
        "RG1_J2KI.dcm": K_ADULT,
        "gdcm-CR-MONO1-10-chest.dcm": K_ADULT,
        "siim_acr_chest_pa.dcm": K_ADULT,
        "txv_Fake_MONOHR1.dcm": K_ADULT,
        "RG3_J2KI.dcm": K_NONCHEST,
        "RG3_J2KR.dcm": K_NONCHEST,
        "pydicom_wheel_CR1_6154.dcm": K_NONCHEST,
    }
    add("dicom", [(lambda f=f: load_pixels(SHARED / "dicom" / f), y, "dicom", f) for f, y in dicoms.items()])
    return sets


def _pick(pool: list[Path], i: int) -> list[Path]:
    return [pool[(7 * i) % len(pool)]]


# --------------------------------------------------------------------------------------------------------
# features (torch; only the builder needs it)
# --------------------------------------------------------------------------------------------------------
def feature_layout(taps: tuple[int, ...] = TAPS) -> list[tuple[int, str, int]]:
    """(tap, pooling, width) blocks in the order FeatureNet(taps) concatenates them."""
    out = []
    for t in taps:
        out.append((t, "mean", TAP_CHANNELS[t]))
        out.append((t, "std", TAP_CHANNELS[t]))
        if t in GRID_TAPS:
            out.append((t, "grid", 4 * TAP_CHANNELS[t]))
    return out


def feature_index(
    poolings: tuple[str, ...], taps: tuple[int, ...] = TAPS, layout_taps: tuple[int, ...] = TAPS
) -> np.ndarray:
    """Columns of the chosen poolings and taps in the features of FeatureNet(layout_taps)."""
    idx, start = [], 0
    for t, kind, width in feature_layout(layout_taps):
        if kind in poolings and t in taps:
            idx.extend(range(start, start + width))
        start += width
    return np.asarray(idx, dtype=np.int64)


def build_torch_modules():
    import torch
    import torch.nn as nn

    from trainer.backbones import SHARED_MOBILENET, init_model

    if not SHARED_MOBILENET.is_file():
        raise SystemExit(f"ImageNet MobileNetV2 weights not found at {SHARED_MOBILENET}")
    model, mean_std, provenance, _ = init_model("mobilenet_v2", "imagenet")
    assert mean_std[0] == (0.5, 0.5, 0.5), "the shared MobileNetV2 expects inputs in [-1, 1]"

    def grid_pool(x):
        """adaptive_avg_pool2d(x, 2).flatten(1) written with static slices (ONNX export: 7 is not even)."""
        h, w = int(x.shape[2]), int(x.shape[3])
        rows = [(math.floor(i * h / 2), math.ceil((i + 1) * h / 2)) for i in range(2)]
        cols = [(math.floor(j * w / 2), math.ceil((j + 1) * w / 2)) for j in range(2)]
        cells = [torch.stack([x[:, :, r0:r1, c0:c1].mean(dim=(2, 3)) for c0, c1 in cols], -1) for r0, r1 in rows]
        return torch.stack(cells, -2).flatten(1)

    class FeatureNet(nn.Module):
        """(N, 1, S, S) normalised image in [0, 1] -> pooled features at ``taps`` (mean, std, 2x2 grid).

        The backbone is cut after the last tap, so a gate on shallow taps ships only the blocks it needs."""

        def __init__(self, features: nn.Module, taps: tuple[int, ...] = TAPS):
            super().__init__()
            self.taps = tuple(taps)
            self.features = nn.Sequential(*list(features.children())[: max(self.taps) + 1])

        def forward(self, x):
            x = x.repeat(1, 3, 1, 1) * 2.0 - 1.0
            outs = []
            for i, layer in enumerate(self.features):
                x = layer(x)
                if i in self.taps:
                    m = x.mean(dim=(2, 3))
                    sq = (x * x).mean(dim=(2, 3))
                    outs.append(m)
                    outs.append(torch.sqrt(torch.clamp(sq - m * m, min=1e-8)))
                    if i in GRID_TAPS:
                        outs.append(grid_pool(x))
            return torch.cat(outs, dim=1)

    class GateNet(nn.Module):
        """FeatureNet + selected features -> (class probabilities, Mahalanobis distance per dimension)."""

        def __init__(self, fnet, select, w, b, mu, sd, comps, var, resvar):
            super().__init__()
            self.fnet = fnet
            t = lambda a: torch.as_tensor(np.asarray(a), dtype=torch.float32)  # noqa: E731
            self.register_buffer("select", torch.as_tensor(select, dtype=torch.long))
            self.register_buffer("w", t(w))
            self.register_buffer("b", t(b))
            self.register_buffer("mu", t(mu))
            self.register_buffer("sd", t(sd))
            self.register_buffer("comps", t(comps))
            self.register_buffer("inv_var", t(1.0 / np.asarray(var)))
            self.resvar = float(resvar)
            self.dim = float(len(mu))

        def forward(self, x):
            f = self.fnet(x)
            f = torch.index_select(f, 1, self.select)
            probs = torch.softmax(f @ self.w.T + self.b, dim=1)
            z = (f - self.mu) / self.sd
            c = z @ self.comps.T
            inside = (c * c * self.inv_var).sum(dim=1)
            resid = torch.clamp((z * z).sum(dim=1) - (c * c).sum(dim=1), min=0.0)
            return probs, (inside + resid / self.resvar) / self.dim

    return model, provenance, FeatureNet, GateNet


def extract(sets: dict, names: list[str], cache: Path, batch: int = 32) -> dict[str, np.ndarray]:
    import torch

    torch.set_num_threads(2)
    out: dict[str, np.ndarray] = {}
    fnet = None
    for name in names:
        s = sets[name]
        path = cache / f"features_{FEATURE_VERSION}_{name}.npz"
        if path.is_file():
            z = np.load(path, allow_pickle=False)
            if list(z["src"]) == list(s["src"]):
                out[name] = z["x"].astype(np.float32)
                continue
        if fnet is None:
            model, _, FeatureNet, _ = build_torch_modules()
            fnet = FeatureNet(model.features).eval()
        t0 = time.time()
        feats = []
        makers = s["make"]
        for i in range(0, len(makers), batch):
            x = np.stack([normalise_for_gate(m()) for m in makers[i : i + batch]])[:, None]
            with torch.no_grad():
                feats.append(fnet(torch.from_numpy(x)).numpy())
        x = np.concatenate(feats).astype(np.float32)
        np.savez_compressed(path, x=x.astype(np.float16), src=np.array(s["src"]))
        out[name] = x.astype(np.float16).astype(np.float32)
        print(f"  features {name}: {len(makers)} images in {time.time() - t0:.0f} s", flush=True)
    return out


# --------------------------------------------------------------------------------------------------------
# candidate gates (fitted on cached features; numpy + scikit-learn)
# --------------------------------------------------------------------------------------------------------
ALL = ("mean", "std", "grid")
SHALLOW = (3, 6, 10, 13)
CANDIDATES: dict[str, tuple] = {
    # name: (poolings, use the classifier, use the distance, inverse regularisation C of the classifier,
    #        fusion of the two scores: "any" = either over its own limit, "sum" = standardised sum over one limit,
    #        optionally the MobileNetV2 blocks pooled, default TAPS)
    "lr-mean": (("mean",), True, False, 0.05, "any"),
    "lr-all": (ALL, True, False, 0.05, "any"),
    "maha-all": (ALL, False, True, 0.05, "any"),
    "lr-all+maha": (ALL, True, True, 0.05, "any"),
    "lr-all+maha-C0.5": (ALL, True, True, 0.5, "any"),
    # the same classifiers and distance, fused by the sum (same heads: no further fits)
    "lr-mean+maha-sum": (("mean",), True, True, 0.05, "sum"),
    "lr-all+maha-sum": (ALL, True, True, 0.05, "sum"),
    "lr-all+maha-C0.5-sum": (ALL, True, True, 0.5, "sum"),
    # shallower blocks only (3-13: edges, texture, local structure rather than ImageNet object parts)
    "lr-shallow+maha": (ALL, True, True, 0.05, "any", SHALLOW),
    "lr-shallow+maha-sum": (ALL, True, True, 0.05, "sum", SHALLOW),
}
N_PCA = 256  # components before the logistic model
N_MAHA = 64  # components of the probabilistic-PCA distance
P_FLOOR = 0.5  # a study is never withheld on the classifier unless P(outside) > 0.5


def fit_head(
    x: np.ndarray, y: np.ndarray, sel: np.ndarray, use_lr: bool, use_maha: bool, c: float = 0.05, seed: int = 0
) -> dict:
    """Linear multinomial classifier (standardise -> PCA -> logistic) and a Kermany-only PPCA distance, both
    folded into plain matrices on the selected raw features."""
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression

    xs = x[:, sel].astype(np.float64)
    d = xs.shape[1]
    head: dict = {"sel": sel}
    if use_lr:
        mu, sd = xs.mean(0), np.maximum(xs.std(0), 1e-3)
        z = (xs - mu) / sd
        pca = PCA(n_components=min(N_PCA, len(z) - 1), random_state=seed).fit(z)
        zp = pca.transform(z)
        zp_sd = np.maximum(zp.std(0), 1e-6)
        lr = LogisticRegression(C=c, class_weight="balanced", max_iter=3000)
        lr.fit(zp / zp_sd, y)
        w_full = np.zeros((len(CLASSES), zp.shape[1]))
        b_full = np.full(len(CLASSES), -30.0)
        for row, cls in enumerate(lr.classes_):
            w_full[cls] = lr.coef_[row]
            b_full[cls] = lr.intercept_[row]
        proj = (w_full / zp_sd) @ pca.components_  # (C, D) on z
        head["w"] = proj / sd
        # z -> zp is (z - pca.mean_) @ comps.T: fold the PCA mean into the bias
        head["b"] = b_full - proj @ (mu / sd) - (w_full / zp_sd) @ (pca.components_ @ pca.mean_)
    else:
        head["w"] = np.zeros((len(CLASSES), d))
        head["b"] = np.array([30.0] + [0.0] * (len(CLASSES) - 1))
    k = y == K_KERMANY
    xk = xs[k]
    mu_k, sd_k = xk.mean(0), np.maximum(xk.std(0), 1e-3)
    zk = (xk - mu_k) / sd_k
    _, s, vt = np.linalg.svd(zk - zk.mean(0), full_matrices=False)
    var = s**2 / max(len(zk) - 1, 1)
    head.update(
        mu=mu_k,
        sd=sd_k,
        comps=vt[:N_MAHA],
        var=np.maximum(var[:N_MAHA], 1e-9),
        resvar=float(max(var[N_MAHA:].sum() / (d - N_MAHA), 1e-6)),
        use_maha=use_maha,
        use_lr=use_lr,
    )
    return head


def score_head(head: dict, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    xs = x[:, head["sel"]].astype(np.float64)
    logits = xs @ head["w"].T + head["b"]
    logits -= logits.max(1, keepdims=True)
    probs = np.exp(logits)
    probs /= probs.sum(1, keepdims=True)
    z = (xs - head["mu"]) / head["sd"]
    c = z @ head["comps"].T
    dist = np.sum(c**2 / head["var"], 1) + np.maximum(np.sum(z**2, 1) - np.sum(c**2, 1), 0) / head["resvar"]
    return probs, dist / xs.shape[1]


def operating_point(head: dict, x_cal: np.ndarray) -> dict:
    """Limits from the calibration part of Kermany train (224 px + simulated originals): about 1 % withheld.

    "any": each score's own limit at the 99.5th percentile (99th when only one is used); "sum": the two scores
    (log-odds of outside, log distance) standardised on these films, added, limit at the 99th percentile.
    """
    probs, dist = score_head(head, x_cal)
    if head.get("fuse", "any") == "sum":
        a, b = outside_logit(probs), np.log(np.maximum(dist, 1e-12))
        op = {
            "fusion": "sum",
            "logit_p_mean": float(a.mean()),
            "logit_p_sd": float(a.std()),
            "log_d_mean": float(b.mean()),
            "log_d_sd": float(b.std()),
            "p_outside": P_FLOOR,  # for the sum this only decides whether the classifier names the kind
            "percentile": 99.0,
        }
        fused = (a - op["logit_p_mean"]) / op["logit_p_sd"] + (b - op["log_d_mean"]) / op["log_d_sd"]
        op["limit"] = float(np.percentile(fused, op["percentile"]))
        assert op["limit"] > 0, "the fused limit must be positive (score = fused / limit)"
        return op
    p_out = 1 - probs[:, 0]
    both = head["use_lr"] and head["use_maha"]
    q = 99.5 if both else 99.0
    p_lim = max(P_FLOOR, float(np.percentile(p_out, q))) if head["use_lr"] else 1.0 + 1e-6
    d_lim = float(np.percentile(dist, q)) if head["use_maha"] else 1e9
    return {"fusion": "any", "p_outside": p_lim, "distance": d_lim, "percentile": q}


def operating_rule_text(op: dict) -> str:
    if op["fusion"] == "sum":
        return (
            "withheld when (z(log P(outside)/P(kermany)) + z(log distance)) / limit > 1, z standardised on the "
            f"Kermany calibration films (224 px + simulated originals); limit = {op['percentile']}th percentile "
            f"there; the classifier names the kind when P(outside) > {P_FLOOR}"
        )
    return (
        f"withheld when P(outside) > p_outside or distance > distance; limits = {op['percentile']}th percentile "
        f"of Kermany calibration films (224 px + simulated originals), p_outside at least {P_FLOOR}"
    )


def verdict(head: dict, op: dict, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The app's own rule (input_gate.gate_scores) on features: withheld, kind, score."""
    probs, dist = score_head(head, x)
    score = gate_scores(probs, dist, op)
    kind = 1 + np.argmax(probs[:, 1:], axis=1)
    return score > 1.0, kind, score


FIT_SETS = ("k_fit", "k_fit_orig", "k_fit_photo", "nonchest", "ext", "ext_k224", "ext_res", "ext_photo")
CAL_SETS = ("k_cal", "k_cal_orig")


def stack(feats, sets, names, groups_out=()):
    xs, ys = [], []
    for n in names:
        keep = ~np.isin(sets[n]["group"], list(groups_out))
        xs.append(feats[n][keep])
        ys.append(sets[n]["y"][keep])
    return np.concatenate(xs), np.concatenate(ys)


_HEADS: dict = {}


def candidate_spec(name: str) -> tuple:
    """(poolings, use_lr, use_maha, C, fusion, taps) of a candidate (taps default: TAPS)."""
    spec = CANDIDATES[name]
    return tuple(spec) if len(spec) == 6 else (*spec, TAPS)


def cached_head(feats, sets, name: str, groups_out=()) -> dict:
    """One fit per (features, left-out groups): candidates sharing features share the classifier and distance."""
    poolings, use_lr, use_maha, c, fuse, taps = candidate_spec(name)
    key = (poolings, taps, c, tuple(groups_out))
    if key not in _HEADS:
        x, y = stack(feats, sets, FIT_SETS, groups_out=groups_out)
        _HEADS[key] = fit_head(x, y, feature_index(poolings, taps), True, True, c)
    head = dict(_HEADS[key], use_lr=use_lr, use_maha=use_maha, fuse=fuse, poolings=poolings, taps=taps)
    if not use_lr:
        head["w"] = np.zeros_like(head["w"])
        head["b"] = np.array([30.0] + [0.0] * (len(CLASSES) - 1))
    return head


def logo(feats, sets, cand: str) -> dict:
    """Leave-one-group-out: fit without group g, operating point on Kermany calibration, measure on g."""
    x_cal, _ = stack(feats, sets, CAL_SETS)
    res: dict = {
        "adult": [],
        "adult_k224": [],
        "adult_res": [],
        "lateral": [],
        "ct": [],
        "photo_ext": [],
        "kind_adult": [],
        "kind_photo": [],
        "per_group": {},
    }
    for g in GROUPS:
        head = cached_head(feats, sets, cand, groups_out=(g,))
        op = operating_point(head, x_cal)
        m = sets["ext"]["group"] == g
        yv = sets["ext"]["y"][m]
        w, kind, _ = verdict(head, op, feats["ext"][m])
        wk, _, _ = verdict(head, op, feats["ext_k224"][m])
        wr, _, _ = verdict(head, op, feats["ext_res"][m])
        mp = sets["ext_photo"]["group"] == g
        wp, kp, _ = verdict(head, op, feats["ext_photo"][mp])
        a = yv == K_ADULT
        res["adult"].extend(w[a])
        res["adult_k224"].extend(wk[a])
        res["adult_res"].extend(wr[a])
        res["lateral"].extend(w[yv == K_LATERAL])
        res["ct"].extend(w[yv == K_NONCHEST])
        res["photo_ext"].extend(wp)
        res["kind_adult"].extend(kind[a & w] == K_ADULT)
        res["kind_photo"].extend(kp[wp] == K_PHOTO)
        res["per_group"][g] = {"adult": rate(w[a]), "photo": rate(wp)}
    out = {k: rate(v) for k, v in res.items() if k != "per_group"}
    out["per_group"] = res["per_group"]
    # the candidate fitted on every group: operating point and Kermany-side rates (calibration films)
    head = cached_head(feats, sets, cand)
    op = operating_point(head, x_cal)
    out["cal_224"] = rate(verdict(head, op, feats["k_cal"])[0])
    out["cal_orig"] = rate(verdict(head, op, feats["k_cal_orig"])[0])
    out["photo_kcal"] = rate(verdict(head, op, feats["k_cal_photo"])[0])
    return out


COMPARE_ROWS = (
    ("adult", "adult frontal films, LOGO held-out group"),
    ("adult_k224", "same, squashed to 224 + re-encoded like Kermany"),
    ("adult_res", "same, at another resolution / JPEG"),
    ("lateral", "laterals (cohen held out)"),
    ("ct", "CT slices (cohen held out)"),
    ("photo_ext", "photos of external films, LOGO"),
    ("photo_kcal", "photos of Kermany calibration films"),
    ("cal_224", "Kermany calibration films, 224 px (false alarms)"),
    ("cal_orig", "Kermany calibration, simulated originals (false alarms)"),
)


def choose(comparison: dict) -> str:
    """Rule declared before looking: the highest mean of LOGO adult-frontal and LOGO photo detection, among
    candidates whose calibration false-alarm rate (224 px and simulated originals) stays <= 1.5 %."""
    ok = [c for c, r in comparison.items() if max(r["cal_224"]["rate"], r["cal_orig"]["rate"]) <= 0.015]
    pool = ok or list(comparison)
    return max(pool, key=lambda c: (comparison[c]["adult"]["rate"] + comparison[c]["photo_ext"]["rate"]) / 2)


# --------------------------------------------------------------------------------------------------------
# export, end-to-end measurement, gate.json
# --------------------------------------------------------------------------------------------------------
def export(head: dict, out_dir: Path) -> tuple[Path, str]:
    import torch

    model, provenance, FeatureNet, GateNet = build_torch_modules()
    fnet = FeatureNet(model.features, head["taps"]).eval()
    # the same columns, numbered in the cut network's (shorter) feature vector
    select = feature_index(head["poolings"], head["taps"], layout_taps=head["taps"])
    assert len(select) == len(head["sel"])
    net = GateNet(
        fnet, select, head["w"], head["b"], head["mu"], head["sd"], head["comps"], head["var"], head["resvar"]
    ).eval()
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / GRAPH_FILE
    dummy = torch.rand(2, 1, GATE_SIZE, GATE_SIZE)
    torch.onnx.export(
        net,
        (dummy,),
        str(path),
        input_names=["image"],
        output_names=["probs", "distance"],
        dynamic_axes={"image": {0: "n"}, "probs": {0: "n"}, "distance": {0: "n"}},
        opset_version=17,
        dynamo=False,
    )
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = torch.rand(3, 1, GATE_SIZE, GATE_SIZE)
    with torch.no_grad():
        p_t, d_t = net(x)
    p_o, d_o = sess.run(None, {"image": x.numpy()})
    assert np.allclose(p_t.numpy(), p_o, atol=1e-4) and np.allclose(d_t.numpy(), d_o, rtol=1e-3, atol=1e-3), (
        "ONNX graph differs from PyTorch"
    )
    return path, provenance


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=REPO / "resources" / "input_gate")
    ap.add_argument("--cache", type=Path, default=REPO / "runs" / "input_gate")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--n-fit", type=int, default=1200, help="Kermany train films to fit on (patient-disjoint)")
    ap.add_argument("--n-cal", type=int, default=800, help="Kermany train films for the operating point")
    ap.add_argument("--n-photo-fit", type=int, default=600)
    ap.add_argument("--n-photo-cal", type=int, default=250)
    ap.add_argument("--n-nonchest", type=int, default=300)
    ap.add_argument("--compare-only", action="store_true", help="print the LOGO comparison, write nothing")
    args = ap.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "2")
    t_start = time.time()
    args.cache.mkdir(parents=True, exist_ok=True)
    sets = image_sets(args)
    print(f"features (cached in {args.cache}):", flush=True)
    feats = extract(sets, list(sets), args.cache)

    print("\nleave-one-group-out comparison of candidates:", flush=True)
    comparison = {}
    for c in CANDIDATES:
        t0 = time.time()
        comparison[c] = logo(feats, sets, c)
        print(f"  {c}: {time.time() - t0:.0f} s", flush=True)
    header = "| set | " + " | ".join(CANDIDATES) + " |"
    lines = [header, "| --- |" + " --- |" * len(CANDIDATES)]
    for key, label in COMPARE_ROWS:
        lines.append(f"| {label} | " + " | ".join(fmt(comparison[c][key]) for c in CANDIDATES) + " |")
    compare_md = "\n".join(lines)
    print(compare_md, flush=True)
    chosen = choose(comparison)
    print(f"\nchosen: {chosen}", flush=True)
    if args.compare_only:
        return 0

    # final fit on every group, operating point on the calibration films, export, measure the shipped graph
    poolings, use_lr, use_maha, c, fuse, taps = candidate_spec(chosen)
    head = cached_head(feats, sets, chosen)
    x_cal, _ = stack(feats, sets, CAL_SETS)
    op = operating_point(head, x_cal)
    graph, provenance = export(head, args.out)
    digest = sha256_file(graph)
    config = {
        "format": 1,
        "classes": list(CLASSES),
        "normalisation": {
            "size": GATE_SIZE,
            "jpeg_quality": GATE_JPEG_QUALITY,
            "blur_radius": GATE_BLUR_RADIUS,
            "text": "8-bit grey, squash to 224x224 (Pillow bilinear, no crop), JPEG q75 re-encode, "
            "Gaussian blur radius 1 px",
        },
        "operating_point": dict(op, rule=operating_rule_text(op)),
        "graph": GRAPH_FILE,
        "graph_sha256": digest,
        "method": {
            "candidate": chosen,
            "backbone": f"MobileNetV2 ImageNet features ({provenance}), blocks {list(taps)} pooled "
            f"({', '.join(poolings)}; 2x2 grid at blocks {[t for t in GRID_TAPS if t in taps]})",
            "classifier": f"multinomial logistic regression over {list(CLASSES)} on standardised features -> "
            f"PCA {N_PCA}, C={c}, balanced class weights"
            if use_lr
            else None,
            "distance": f"probabilistic-PCA Mahalanobis distance ({N_MAHA} components + scaled residual) to "
            "Kermany fitting films, per dimension"
            if use_maha
            else None,
            "input": {"name": "image", "shape": ["n", 1, GATE_SIZE, GATE_SIZE], "range": [0, 1]},
            "outputs": {"probs": ["n", len(CLASSES)], "distance": ["n"]},
        },
    }
    tmp_cfg = dict(config, measured={})
    (args.out / CONFIG_FILE).write_text(json.dumps(tmp_cfg, indent=1))
    measured = measure_shipped(args.out, sets, comparison[chosen])
    config["measured"] = measured
    config["comparison"] = {c: {k: comparison[c][k] for k, _ in COMPARE_ROWS} for c in CANDIDATES}
    config["data"] = {n: int(len(s["src"])) for n, s in sets.items()}
    config["command"] = "OMP_NUM_THREADS=2 .venv/bin/python tools/build_input_gate.py " + " ".join(
        argv if argv is not None else sys.argv[1:]
    )
    config["build_seconds"] = round(time.time() - t_start)
    (args.out / CONFIG_FILE).write_text(json.dumps(config, indent=1))
    print("\n" + rates_markdown(measured), flush=True)
    print(f"\nwrote {graph} ({graph.stat().st_size / 1e6:.1f} MB, sha256 {digest[:12]}...) and {CONFIG_FILE}")
    return 0


def measure_shipped(out_dir: Path, sets: dict, logo_rates: dict) -> dict:
    """Rates of the written gate, run end to end (load_gate -> assess_many) on the measurement sets."""
    from cxrviewer.core.input_gate import load_gate

    gate = load_gate(out_dir)
    assert gate is not None
    m: dict = {}

    def run(name, keep=None):
        makers = sets[name]["make"]
        idx = range(len(makers)) if keep is None else np.flatnonzero(keep)
        return gate.assess_many([makers[i]() for i in idx])

    for name in ("test_public", "native1024", "native", "k_cal_photo", "tp_photo"):
        res = run(name)
        m[name] = rate([r.withheld for r in res])
        if name.endswith("photo"):
            m[name]["kind_photo"] = int(sum(r.kind == "photo" for r in res if r.withheld))
    res = run("dicom")
    dic = {f: (r.withheld, r.kind, round(r.score, 3)) for f, r in zip(sets["dicom"]["src"], res)}
    nonchest = sets["dicom"]["y"] == K_NONCHEST
    m["dicom_nonchest"] = rate([r.withheld for r, nc in zip(res, nonchest) if nc])
    m["dicom_adult_chest"] = rate([r.withheld for r, nc in zip(res, nonchest) if not nc])
    m["dicom_files"] = dic
    for key, _ in COMPARE_ROWS:
        m[f"logo_{key}" if not key.startswith(("cal", "photo_kcal")) else key] = logo_rates[key]
    m["logo_per_group"] = logo_rates["per_group"]
    m["logo_kind_adult"] = logo_rates["kind_adult"]
    m["logo_kind_photo"] = logo_rates["kind_photo"]
    # cost per study: a 1024 px film, normalisation + graph, batch 1, 2 threads
    film = sets["native1024"]["make"][0]()
    gate.assess(film)
    t0 = time.perf_counter()
    for _ in range(20):
        gate.assess(film)
    m["ms_per_study"] = round((time.perf_counter() - t0) / 20 * 1000, 1)
    return m


RATE_ROWS = (
    ("logo_adult", "adult frontal films (LOGO, held-out group)", ">= 95 %"),
    ("logo_adult_k224", "adult frontal, squashed to 224 like Kermany (LOGO)", ">= 95 %"),
    ("logo_adult_res", "adult frontal, other resolution/JPEG (LOGO)", ">= 95 %"),
    ("logo_photo_ext", "photos of external films (LOGO)", ">= 90 %"),
    ("photo_kcal", "photos of Kermany calibration films (not fitted)", ">= 90 %"),
    ("tp_photo", "photos of test_public films (shipped graph)", ">= 90 %"),
    ("logo_lateral", "lateral films (LOGO: cohen held out)", "withheld"),
    ("logo_ct", "CT slices (LOGO: cohen held out)", "100 %"),
    ("dicom_nonchest", "non-chest DICOMs (shipped graph)", "100 %"),
    ("dicom_adult_chest", "adult chest DICOMs (shipped graph)", "withheld"),
    ("cal_224", "Kermany calibration films 224 px (operating point)", "~1 %"),
    ("cal_orig", "Kermany calibration, simulated originals", "~1 %"),
    ("test_public", "Kermany test_public (shipped graph)", "<= 2 %"),
    ("native1024", "Kermany native1024 (shipped graph)", "<= 2 %"),
    ("native", "Kermany native originals (shipped graph)", "<= 2 %"),
)


def rates_markdown(m: dict) -> str:
    lines = ["| set | withheld (95 % Wilson CI) | target |", "| --- | --- | --- |"]
    for key, label, target in RATE_ROWS:
        if key in m:
            lines.append(f"| {label} | {fmt(m[key])} | {target} |")
    lines.append(f"\ncost per study (1024 px film, normalisation + graph, 2 threads): {m['ms_per_study']} ms")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
