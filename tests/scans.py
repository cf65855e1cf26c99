"""Scanned PDFs made for tests: text drawn into a grayscale image, wrapped as a PDF by Pillow."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

DPI = 300
SANS = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
_FONTS = (SANS, "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf")
_SIZE_PX = 42  # ~10 pt at 300 dpi

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


def font(path: str | None = None, size_px: int = _SIZE_PX) -> Font:
    """`path` (else the first of the machine's usual fonts, else Pillow's own, scaled)."""
    for candidate in (path,) if path else _FONTS:
        if Path(candidate).exists():
            return ImageFont.truetype(candidate, size_px)
    return ImageFont.load_default(size=size_px)


def page_image(text: str, drawn_with: Font | None = None) -> Image.Image:
    """A letter-size page at 300 dpi with `text` typeset line by line, as a scanner sees it."""
    image = Image.new("L", (int(8.5 * DPI), 11 * DPI), 255)
    draw = ImageDraw.Draw(image)
    typeface = drawn_with or font()
    step = int(getattr(typeface, "size", _SIZE_PX) * 1.6)
    for number, line in enumerate(text.split("\n")):
        draw.text((DPI, DPI + number * step), line, fill=0, font=typeface)
    return image


def scanned_pdf(pages: Sequence[str], drawn_with: Font | None = None) -> bytes:
    """A PDF of image-only pages (no text layer), one per item of `pages`."""
    images = [page_image(text, drawn_with) for text in pages]
    out = io.BytesIO()
    images[0].save(out, format="PDF", resolution=DPI, save_all=True, append_images=images[1:])
    return out.getvalue()
