"""Render report pages as a user sees them — headless Chromium — into small PNGs for docs/.

    python docs/render_report.py REPORT_DIR OUT.png [--width 1400] [--height 3000] [--scale 0.5]

opens ``REPORT_DIR/index.html`` in a browser window ``--width`` pixels wide,
captures its top ``--height`` pixels (:func:`nuanalysis.report.render_page`),
scales the capture by ``--scale`` and stores it with a 256-colour palette, so a
screenshot weighs ~100 kB. The screenshots in ``docs/`` (see ``docs/README.md``)
were made from the reports of these commands, before and after the report
changes of issue 12:

    nuanalysis compare --methods truth,flow,nw,ellipse --max-events 600 --out REPORT_DIR
    nuanalysis assign --methods truth,quadratic,flow --max-events 1500 --out REPORT_DIR
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from PIL import Image

from nuanalysis.report import render_page


def render(report_dir: Path, out: Path, width: int, height: int, scale: float) -> Path:
    """Screenshot ``report_dir/index.html`` into ``out``, scaled and palette-compressed."""
    with tempfile.TemporaryDirectory() as scratch:
        capture = render_page(report_dir / "index.html", Path(scratch) / "page.png", width, height)
        image = Image.open(capture).convert("RGB")
        size = (round(image.width * scale), round(image.height * scale))
        small = image.resize(size, Image.Resampling.LANCZOS).quantize(256)
        out.parent.mkdir(parents=True, exist_ok=True)
        small.save(out, optimize=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report_dir", type=Path, help="folder holding index.html")
    parser.add_argument("out", type=Path, help="PNG to write")
    parser.add_argument("--width", type=int, default=1400, help="browser window width [px]")
    parser.add_argument("--height", type=int, default=3000, help="captured height [px]")
    parser.add_argument("--scale", type=float, default=0.5, help="scale of the stored PNG")
    args = parser.parse_args()
    path = render(args.report_dir, args.out, args.width, args.height, args.scale)
    print(f"wrote {path} ({path.stat().st_size / 1024:.0f} kB)")


if __name__ == "__main__":
    main()
