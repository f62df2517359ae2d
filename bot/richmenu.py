"""`mado richmenu deploy`: create mado's rich menu, upload its image, make it the default.

The menu is data (messages_ja/richmenu/richmenu.toml + richmenu.png). It is checked against
LINE's rules first (shared/line_platform.md §2.8), so a bad image fails here with a clear
message rather than at LINE. Each area sends the same postback as the quick replies.
"""
from __future__ import annotations

import struct
import tomllib
from importlib import resources

from linebot.v3.messaging import (ApiClient, Configuration, MessagingApi, MessagingApiBlob,
                                  PostbackAction, RichMenuArea, RichMenuBounds, RichMenuRequest,
                                  RichMenuSize)

from messages_ja import POSTBACK_PREFIX, catalog

from .config import Config

MAX_BYTES = 1024 * 1024


class RichMenuError(ValueError):
    pass


def load() -> tuple[dict, bytes]:
    base = resources.files("messages_ja").joinpath("richmenu")
    spec = tomllib.loads(base.joinpath("richmenu.toml").read_text("utf-8"))
    return spec, base.joinpath("richmenu.png").read_bytes()


def png_size(data: bytes) -> tuple[int, int]:
    if data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        raise RichMenuError("the rich menu image must be a PNG")
    return struct.unpack(">II", data[16:24])


def check(spec: dict, image: bytes) -> None:
    """LINE's rules for a rich menu, and that every area fires a trigger a person may fire."""
    w, h = spec["width"], spec["height"]
    problems = []
    if not 800 <= w <= 2500:
        problems.append(f"width {w} is not within 800–2500")
    if h < 250:
        problems.append(f"height {h} is under 250")
    if w / h < 1.45:
        problems.append(f"aspect ratio {w / h:.2f} is under 1.45")
    if len(image) > MAX_BYTES:
        problems.append(f"image is {len(image)} bytes, over 1 MB")
    if png_size(image) != (w, h):
        problems.append(f"image is {png_size(image)}, the menu says {(w, h)}")
    if not 1 <= len(spec["chat_bar_text"]) <= 14:
        problems.append("chat_bar_text must be 1–14 characters")
    if not 1 <= len(spec["areas"]) <= 20:
        problems.append("a rich menu has 1–20 areas")
    for a in spec["areas"]:
        if not 1 <= len(a["label"]) <= 20:
            problems.append(f"label {a['label']!r} must be 1–20 characters")
        if a["trigger"] not in catalog().user_triggers:
            problems.append(f"area {a['label']!r}: {a['trigger']!r} is not a trigger a person may fire")
    if problems:
        raise RichMenuError("; ".join(problems))


def request_of(spec: dict) -> RichMenuRequest:
    n = len(spec["areas"])
    col = spec["width"] // n
    areas = []
    for i, a in enumerate(spec["areas"]):
        width = col if i < n - 1 else spec["width"] - col * (n - 1)
        areas.append(RichMenuArea(
            bounds=RichMenuBounds(x=i * col, y=0, width=width, height=spec["height"]),
            action=PostbackAction(label=a["label"], data=POSTBACK_PREFIX + a["trigger"],
                                  display_text=a["label"])))
    return RichMenuRequest(size=RichMenuSize(width=spec["width"], height=spec["height"]), selected=False,
                           name=spec["name"], chat_bar_text=spec["chat_bar_text"], areas=areas)


def deploy(config: Config, *, dry_run: bool = False) -> str:
    """Create, upload, set as default. Returns the rich menu id ("" on a dry run)."""
    spec, image = load()
    check(spec, image)
    if dry_run:
        return ""
    sdk_cfg = Configuration(access_token=config.access_token, host=config.api_base_url)
    with ApiClient(sdk_cfg) as client:
        api = MessagingApi(client)
        menu_id = api.create_rich_menu(request_of(spec)).rich_menu_id
        MessagingApiBlob(client).set_rich_menu_image(menu_id, image, _headers={"Content-Type": "image/png"})
        api.set_default_rich_menu(menu_id)
    return menu_id
