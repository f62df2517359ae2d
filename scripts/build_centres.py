"""Generate messages_ja/centres.toml from the sourced list of ひきこもり地域支援センター.

    python scripts/build_centres.py [path/to/hikikomori_centers.csv]

Default input: ../shared/data/hikikomori_centers.csv (beside the checkout). The rule from the
list's notes is applied here, once: a phone number is shipped only from a confidence-A row (an
official government or operator page); every other row keeps its name and source, and the bot
points to the national list instead of a number. Each row keeps its source URL and date so that
re-verification against the live official list is a diff of this file.

Names are shown as a person should read them (`display_name`): no provisional 「(仮称)」, no
building, floor or street in the brackets (「(和歌山県精神保健福祉センター内、県民交流プラザ和歌山
ビッグ愛2階)」 → 「(和歌山県精神保健福祉センター内)」, 「(神戸市総合福祉センター1階)」 → 「(神戸市総合福祉
センター内)」, 「(加賀市幸町)」 → 「(加賀市)」); the list's own wording stays in `raw_name` for audit.
A designated city's rows carry the city's JIS code (`city`, from messages_ja/municipalities.toml),
the key of its own page (local.city.<code>).
"""
from __future__ import annotations

import csv
import json
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CSV = ROOT.parent / "shared" / "data" / "hikikomori_centers.csv"
PLACES = ROOT / "messages_ja" / "places.toml"
MUNICIPALITIES = ROOT / "messages_ja" / "municipalities.toml"
OUT = ROOT / "messages_ja" / "centres.toml"
SHOWN_CONFIDENCE = "A"

PROVISIONAL = "仮称"
FLOOR = re.compile(r"(地下)?[0-9０-９]+(階|F)$")
BUILDING = re.compile(r"(ビル|プラザ|ビッグ愛|会館|タワー)$")
HOUSED_IN = ("センター",)                 # "<…センター>1階" is said "<…センター>内"
INSIDE = "内"
# What may follow a municipality's name in an address: a neighbourhood (幸町, 川島), not an
# organisation (精神保健福祉センター内) or a phrase (・武雄市の2か所, 委託 …).
NEIGHBOURHOOD = re.compile(r"^[\u4e00-\u9fff\u3041-\u30ff]{1,6}$")
NOT_NEIGHBOURHOOD = ("内", "センター", "課", "局", "所", "室", "会", "館")


def q(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def _groups(name: str) -> list[tuple[int, int]]:
    """Spans (start, end) of the top-level brackets in a name, brackets included."""
    spans, depth, start = [], 0, 0
    for i, ch in enumerate(name):
        if ch in "(（":
            if depth == 0:
                start = i
            depth += 1
        elif ch in ")）" and depth:
            depth -= 1
            if depth == 0:
                spans.append((start, i + 1))
    return spans


def _split_top(text: str, sep: str = "、") -> list[str]:
    parts, depth, cur = [], 0, ""
    for ch in text:
        depth += ch in "(（"
        depth -= ch in ")）"
        if ch == sep and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    return parts + [cur]


def _clean_part(part: str, municipalities: list[str]) -> str:
    part = part.strip()
    if part == PROVISIONAL:
        return ""
    floorless = FLOOR.sub("", part)
    if floorless != part:                          # a floor: only what the building houses is kept
        return floorless + INSIDE if floorless.endswith(HOUSED_IN) else ""
    if BUILDING.search(part):
        return ""
    for m in municipalities:                      # longest first: 神戸市兵庫区 before 神戸市
        if part.startswith(m):
            rest = part[len(m):]
            if not rest:
                return part
            if NEIGHBOURHOOD.match(rest) and not rest.endswith(NOT_NEIGHBOURHOOD):
                return m
            break
    return part


def display_name(raw: str, municipalities: list[str]) -> str:
    """The name without provisional marks, buildings, floors and streets (see the module doc)."""
    out, last = [], 0
    for start, end in _groups(raw):
        out.append(raw[last:start])
        kept = [p for p in (_clean_part(x, municipalities) for x in _split_top(raw[start + 1:end - 1])) if p]
        if kept:
            out.append(raw[start] + "、".join(kept) + raw[end - 1])
        last = end
    out.append(raw[last:])
    return "".join(out).strip()


def checked_of(path: Path = OUT) -> str:
    """The `checked` date a centres file carries ("" when none)."""
    try:
        return str(tomllib.loads(path.read_text("utf-8")).get("checked", ""))
    except (OSError, tomllib.TOMLDecodeError):
        return ""


def build(csv_path: Path, checked: str | None = None) -> str:
    """The file's text. `checked`: the day the list was compared with its sources (YYYY-MM-DD;
    `mado doctor` says when it is over a year old); None keeps the date the file already has, so
    a rebuild from the same list is the same file."""
    checked = checked_of() if checked is None else checked
    places = tomllib.loads(PLACES.read_text("utf-8"))
    munis = tomllib.loads(MUNICIPALITIES.read_text("utf-8"))["municipalities"]
    city_code = {m["name"]: code for code, m in munis.items() if m["kind"] == "designated"}
    names = {m["name"] for m in munis.values()} | {munis[m["city"]]["name"] + m["name"]
                                                    for m in munis.values() if m.get("city")}
    names = sorted(names, key=len, reverse=True)
    code_of = {p["name"]: code for code, p in places["prefs"].items()}
    rows: dict[str, list[dict]] = {code: [] for code in places["prefs"]}
    with csv_path.open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            name = row["center_name"].strip()
            if not name:
                continue                      # "not found": the national list is shown instead
            code = code_of[row["prefecture"].strip()]
            shown = row["confidence"].strip() == SHOWN_CONFIDENCE
            kind, area = row["area_type"].strip(), row["area"].strip()
            rows[code].append({
                "kind": kind,
                "area": area,
                **({"city": city_code[area]} if kind == "city" else {}),
                "name": display_name(name, names),
                "raw_name": name,
                "phone": row["phone"].strip() if shown else "",
                "url": row["url"].strip() if shown else "",
                "confidence": row["confidence"].strip(),
                "source_url": row["source_url"].strip(),
                "source_date": row["source_date"].strip(),
                "phone_withheld": bool(row["phone"].strip()) and not shown,
            })
    out = [
        "# GENERATED by scripts/build_centres.py from shared/data/hikikomori_centers.csv: do not edit.",
        f"# Phone numbers and URLs are kept only from confidence-{SHOWN_CONFIDENCE} rows (official pages);",
        "# other rows keep the centre's name and source. Verify against the live official list before launch.",
        "# name: as shown (no provisional mark, building, floor or street); raw_name: as the list has it.",
        "# city: the JIS code of a designated city (its page is local.city.<city>).",
        "# checked: the day the list was last compared with its sources (build_centres.py --checked).",
        "",
        f"checked = {q(checked)}",
        "",
    ]
    for code in sorted(rows):
        for c in rows[code]:
            out.append(f'[[centres."{code}"]]')
            for key, value in c.items():
                out.append(f"{key} = {str(value).lower() if isinstance(value, bool) else q(value)}")
            out.append("")
    return "\n".join(out)


def main(argv: list[str]) -> int:
    import argparse
    from datetime import date

    ap = argparse.ArgumentParser(description="Generate messages_ja/centres.toml from the sourced list.")
    ap.add_argument("csv", nargs="?", default=str(DEFAULT_CSV))
    ap.add_argument("--checked", default=date.today().isoformat(),
                    help="the day the list was compared with the live official list (default: today)")
    args = ap.parse_args(argv[1:])
    date.fromisoformat(args.checked)
    src = Path(args.csv)
    OUT.write_text(build(src, args.checked), encoding="utf-8")
    print(f"wrote {OUT.relative_to(ROOT)} from {src}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
