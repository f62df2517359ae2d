"""Draw messages_ja/richmenu/richmenu.png from richmenu.toml (a developer tool, run once).

    pip install pillow && python scripts/build_richmenu.py [path/to/a/Japanese/font.ttf]

Default font: Debian's fonts-ipafont-gothic. The PNG is committed; deployments never need Pillow.
"""
from __future__ import annotations

import sys
import tomllib
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

ROOT = Path(__file__).resolve().parent.parent
DIR = ROOT / "messages_ja" / "richmenu"
FONT = "/usr/share/fonts/opentype/ipafont-gothic/ipagp.ttf"


def main(argv: list[str]) -> int:
    spec = tomllib.loads((DIR / "richmenu.toml").read_text("utf-8"))
    w, h = spec["width"], spec["height"]
    img = Image.new("RGB", (w, h), spec["background"])
    draw = ImageDraw.Draw(img)
    font = ImageFont.truetype(argv[1] if len(argv) > 1 else FONT, 104)
    n = len(spec["areas"])
    col = w // n
    for i, area in enumerate(spec["areas"]):
        x0 = i * col
        if i:
            draw.line([(x0, 90), (x0, h - 90)], fill="#CFC8BA", width=6)
        lines = area["lines"]
        total = len(lines) * 140
        for j, line in enumerate(lines):
            tw = draw.textlength(line, font=font)
            draw.text((x0 + (col - tw) / 2, (h - total) / 2 + j * 140), line, font=font, fill=spec["ink"])
    img.save(DIR / "richmenu.png", optimize=True)
    print(f"wrote {DIR / 'richmenu.png'} ({(DIR / 'richmenu.png').stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
