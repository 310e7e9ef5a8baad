"""Draw resources/icons/cxrviewer.png (256 px): a stylised chest film, two lungs and a warm Grad-CAM spot.

Run once: .venv/bin/python tools/make_icon.py. Drawn at 4x and downsampled for smooth edges."""

from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter

SIZE, SCALE = 256, 4
OUT = Path(__file__).resolve().parents[1] / "resources" / "icons" / "cxrviewer.png"


def main() -> None:
    s = SIZE * SCALE
    img = Image.new("RGBA", (s, s), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    pad = 8 * SCALE
    d.rounded_rectangle(
        [pad, pad, s - pad, s - pad],
        radius=44 * SCALE,
        fill=(22, 30, 42, 255),
        outline=(90, 140, 190, 255),
        width=6 * SCALE,
    )
    lung, bg = (205, 220, 235, 255), (22, 30, 42, 255)

    def bezier(p0, p1, p2, p3, n=40):
        return [
            tuple(
                ((1 - t) ** 3) * a + 3 * ((1 - t) ** 2) * t * b + 3 * (1 - t) * t * t * c + t**3 * e
                for a, b, c, e in zip(p0, p1, p2, p3)
            )
            for t in (i / n for i in range(n + 1))
        ]

    def lung_outline(mirror: bool):
        # image-left lung in 256-px units: apex, convex outer edge, sloping base, straighter medial edge
        apex, angle, medial_base, medial_top = (100, 46), (50, 206), (116, 188), (118, 70)
        pts = (
            bezier(apex, (70, 50), (46, 120), angle)
            + bezier(angle, (70, 200), (96, 196), medial_base)
            + bezier(medial_base, (112, 150), (122, 110), medial_top)
            + bezier(medial_top, (116, 52), (108, 46), apex)
        )
        return [((256 - x) if mirror else x, y) for x, y in pts]

    for mirror in (False, True):
        d.polygon([(x * SCALE, y * SCALE) for x, y in lung_outline(mirror)], fill=lung)
    # heart shadow bulging into the image-right lung, trachea and main bronchi
    d.ellipse([112 * SCALE, 128 * SCALE, 168 * SCALE, 212 * SCALE], fill=bg)
    d.rounded_rectangle([123 * SCALE, 26 * SCALE, 133 * SCALE, 104 * SCALE], radius=5 * SCALE, fill=bg)
    d.line([(128 * SCALE, 100 * SCALE), (108 * SCALE, 122 * SCALE)], fill=bg, width=8 * SCALE)
    d.line([(128 * SCALE, 100 * SCALE), (148 * SCALE, 122 * SCALE)], fill=bg, width=8 * SCALE)
    img = img.resize((SIZE, SIZE), Image.Resampling.LANCZOS)
    # a soft warm spot over the right lower zone: the Grad-CAM layer
    heat = Image.new("RGBA", (SIZE, SIZE), (0, 0, 0, 0))
    ImageDraw.Draw(heat).ellipse([64, 128, 108, 176], fill=(255, 110, 40, 180))
    heat = heat.filter(ImageFilter.GaussianBlur(9))
    mask = img.split()[3]
    img = Image.alpha_composite(img, Image.composite(heat, Image.new("RGBA", img.size), mask))
    OUT.parent.mkdir(parents=True, exist_ok=True)
    img.save(OUT, optimize=True)
    print(f"{OUT}: {OUT.stat().st_size} bytes")


if __name__ == "__main__":
    main()
