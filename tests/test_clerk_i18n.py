"""Chinese first, English second: every text the clerk app writes has its English."""

from __future__ import annotations

import re
from pathlib import Path

from server.casework.review import STATE_NAMES
from server.web.clerk.common import FORM_NAMES, TIER_NAMES
from server.web.clerk.i18n import EN
from server.web.clerk.queue import ACTION_NAMES

ROOT = Path(__file__).resolve().parent.parent / "server" / "web"
CALLS = re.compile(r"""(?:\b_|gettext|both)\(\s*(["'])(.+?)\1""")


def texts() -> set[str]:
    found: set[str] = set()
    for path in [*(ROOT / "templates" / "clerk").glob("*.html"), *(ROOT / "clerk").glob("*.py")]:
        found |= {m.group(2) for m in CALLS.finditer(path.read_text())}
    found |= set(FORM_NAMES.values()) | {v for v in TIER_NAMES.values()} | set(ACTION_NAMES.values())
    found |= {zh for zh, _ in STATE_NAMES.values()}
    return {t for t in found if re.search(r"[\u4e00-\u9fff]", t)}


def test_every_chinese_text_has_its_english():
    missing = sorted(t for t in texts() if t not in EN)
    assert missing == [], f"add these to server/web/clerk/i18n.py EN: {missing}"
    assert len(texts()) > 100  # the scan itself found the app's texts


def test_english_texts_keep_their_placeholders():
    for zh, en in EN.items():
        assert set(re.findall(r"{\w+}", zh)) == set(re.findall(r"{\w+}", en)), zh
