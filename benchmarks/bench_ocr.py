"""OCR on scans made here: characters right against the text that was drawn, seconds per page.

Each page is text drawn by Pillow at 300 dpi (in the given fonts and sizes), wrapped as a PDF
without a text layer, then read the way `longread pack` reads it: rendered by pdfium in the PDF
worker, recognised by `tesseract` (ingest/ocr.py), no cache. Characters right = 1 - (edit distance
/ characters drawn), with runs of whitespace counted as one space.

    .venv/bin/python benchmarks/bench_ocr.py [--pages 4] [--json]
"""

from __future__ import annotations

import argparse
import io
import json
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests package

from PIL import Image, ImageFilter  # noqa: E402

from longread.ingest.isolation import extract_pdfs  # noqa: E402
from longread.ingest.ocr import engine, read_scans  # noqa: E402
from tests.scans import DPI, font, page_image  # noqa: E402

FACES: dict[str, tuple[str, int]] = {
    "DejaVu Sans 10pt": ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", 42),
    "DejaVu Serif 10pt": ("/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf", 42),
    "Liberation Sans 8pt": ("/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf", 33),
    "DejaVu Sans Mono 12pt": ("/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf", 50),
    "DejaVu Sans 10pt, skewed+blurred+speckled": (
        "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", 42),
}
WORDS = ["harbour", "office", "report", "quarter", "ships", "counted", "tonnage", "berth", "pilot",
         "customs", "cargo", "invoice", "due", "paid", "balance", "total", "account", "vessel",
         "arrival", "departure", "inspection", "approved", "rejected", "container", "crane",
         "storage", "warehouse", "manifest"]


def page_text(rng: random.Random, lines: int = 30) -> str:
    """Sentences of words, numbers, dates and amounts, about 60 characters a line."""
    out = []
    for _ in range(lines):
        words = [rng.choice(WORDS) for _ in range(rng.randint(5, 8))]
        words.insert(rng.randrange(len(words)), rng.choice(
            [str(rng.randint(1, 9999)), f"{rng.randint(1, 28)}.{rng.randint(1, 12)}.2024",
             f"EUR {rng.randint(10, 99999):,}.{rng.randint(0, 99):02}"]))
        out.append(" ".join(words).capitalize() + ".")
    return "\n".join(out)


def squeeze(text: str) -> str:
    return " ".join(text.split())


def edit_distance(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, left in enumerate(a, 1):
        current = [i]
        for j, right in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1,
                               previous[j - 1] + (left != right)))
        previous = current
    return previous[-1]


def _degraded(image: Image.Image, rng: random.Random) -> Image.Image:
    """A poorer scan: turned 1.5 degrees, blurred, 1% of pixels flipped to black or white."""
    turned = image.rotate(1.5, resample=Image.Resampling.BILINEAR, fillcolor=255)
    blurred = turned.filter(ImageFilter.GaussianBlur(1.2))
    pixels = blurred.load()
    width, height = blurred.size
    for _ in range(width * height // 100):
        pixels[rng.randrange(width), rng.randrange(height)] = rng.choice((0, 255))
    return blurred


def measure(face: str, pages: int, rng: random.Random) -> dict[str, object]:
    path, size = FACES[face]
    texts = [page_text(rng) for _ in range(pages)]
    images = [page_image(text, font(path, size)) for text in texts]
    if "skewed" in face:
        images = [_degraded(image, rng) for image in images]
    out = io.BytesIO()
    images[0].save(out, format="PDF", resolution=DPI, save_all=True, append_images=images[1:])
    data = out.getvalue()
    started = time.perf_counter()
    [extraction] = extract_pdfs([data], time_limit_s=120.0, render=True)
    [read], _ = read_scans([extraction], engine(), None)
    seconds = time.perf_counter() - started
    drawn = squeeze("\n".join(texts))
    got = squeeze("\n".join(section.text for section in read.sections))
    wrong = edit_distance(drawn, got)
    confidences = [s.ocr_confidence for s in read.sections if s.ocr_confidence is not None]
    return {"face": face, "pages": pages, "characters": len(drawn), "edits": wrong,
            "right": round(1 - wrong / len(drawn), 4),
            "confidence": round(sum(confidences) / max(1, len(confidences)), 1),
            "seconds_per_page": round(seconds / pages, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", type=int, default=4, help="pages per font")
    parser.add_argument("--json", action="store_true")
    options = parser.parse_args()
    ocr = engine()
    if not ocr.available:
        sys.exit(ocr.unavailable_note())
    rng = random.Random(19)
    rows = [measure(face, options.pages, rng) for face in FACES]
    characters = sum(int(str(row["characters"])) for row in rows)
    edits = sum(int(str(row["edits"])) for row in rows)
    if options.json:
        print(json.dumps({"engine": ocr.identity, "rows": rows,
                          "right": round(1 - edits / characters, 4)}, indent=2))
        return
    print(f"{ocr.identity}; {options.pages} pages per font, ~30 lines a page:")
    for row in rows:
        print(f"  {row['face']:<43} {row['right']:.2%} characters right ({row['edits']} edits in "
              f"{row['characters']}), mean confidence {row['confidence']}, "
              f"{row['seconds_per_page']} s/page")
    print(f"  all: {1 - edits / characters:.2%} of {characters} characters right")


if __name__ == "__main__":
    main()
