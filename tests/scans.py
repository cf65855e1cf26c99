"""Scanned PDFs made for tests: text drawn into a grayscale image, wrapped as a PDF by Pillow."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

DPI = 300
_FONTS = ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
          "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf")
_SIZE_PX = 42  # ~10 pt at 300 dpi


def _font() -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    for path in _FONTS:
        if Path(path).exists():
            return ImageFont.truetype(path, _SIZE_PX)
    return ImageFont.load_default(size=_SIZE_PX)  # Pillow's own font, scaled


def page_image(text: str) -> Image.Image:
    """A letter-size page at 300 dpi with `text` typeset line by line, as a scanner sees it."""
    image = Image.new("L", (int(8.5 * DPI), 11 * DPI), 255)
    draw = ImageDraw.Draw(image)
    font = _font()
    for number, line in enumerate(text.split("\n")):
        draw.text((DPI, DPI + number * int(_SIZE_PX * 1.6)), line, fill=0, font=font)
    return image


def scanned_pdf(pages: Sequence[str]) -> bytes:
    """A PDF of image-only pages (no text layer), one per item of `pages`."""
    images = [page_image(text) for text in pages]
    out = io.BytesIO()
    images[0].save(out, format="PDF", resolution=DPI, save_all=True, append_images=images[1:])
    return out.getvalue()
