"""QR codes: tablet enrolment, ODK Collect settings, household door cards (qrcode, PNG and SVG).

Payloads are plain data so a test can decode a rendered code and compare:

* enrolment: compact JSON ``{"fangpin": 1, "server", "sync_url", "user", "databases", "token",
  "expires_at"}`` — never a password;
* ODK Collect settings: JSON → zlib → base64, as Collect's "scan QR code" expects, with
  ``general.server_url``, ``username``, ``form_update_mode``, ``autosend``;
* a household door card: ``fangpin:household:<household id>``.
"""

from __future__ import annotations

import base64
import io
import json
import zlib

import qrcode
import qrcode.image.svg
from qrcode.constants import ERROR_CORRECT_M

from server.casework import door_cards
from server.refusals import BilingualError


def _code(payload: str) -> qrcode.QRCode:
    code = qrcode.QRCode(error_correction=ERROR_CORRECT_M, box_size=8, border=4)
    code.add_data(payload.encode("utf-8"))
    code.make(fit=True)
    return code


def terminal(payload: str) -> str:
    """The code drawn with block characters, to scan from a terminal."""
    out = io.StringIO()
    _code(payload).print_ascii(out=out, invert=True)
    return out.getvalue()


def png(payload: str) -> bytes:
    out = io.BytesIO()
    _code(payload).make_image().save(out, format="PNG")
    return out.getvalue()


def svg(payload: str) -> bytes:
    out = io.BytesIO()
    _code(payload).make_image(image_factory=qrcode.image.svg.SvgPathImage).save(out)
    return out.getvalue()


def data_uri(payload: str) -> str:
    return "data:image/png;base64," + base64.b64encode(png(payload)).decode()


def enrolment(server: str, user: str, databases: list[str], token: str, expires_at: str) -> str:
    base = server.rstrip("/") + "/"
    body = {"fangpin": 1, "server": base, "sync_url": base + "sync/", "user": user, "databases": databases,
            "token": token, "expires_at": expires_at}  # fmt: skip
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"))


class InsecureServer(BilingualError):
    """An ``http://`` address in ODK Collect's settings: Collect sends its Basic-auth password only
    over https, so the worker would be asked for it again and again and nothing would be sent."""


INSECURE = (
    "ODK Collect 只在 https 上发送密码：请用 https:// 地址（测试网络上可明确选择不安全的 http）",
    "ODK Collect sends the password (Basic auth) only over https: use an https:// address "
    "(on a test network, ask for insecure http explicitly)",
)


def odk_settings(server: str, user: str, project: str = "防贫 Fangpin", insecure: bool = False) -> str:
    if not server.lower().startswith("https://") and not insecure:
        raise InsecureServer(*INSECURE)
    settings = {
        "general": {
            "server_url": server.rstrip("/"),
            "username": user,
            "form_update_mode": "match_exactly",
            "autosend": "wifi_and_cellular",
        },
        "admin": {},
        "project": {"name": project, "icon": "防", "color": "#17324d"},
    }
    return base64.b64encode(zlib.compress(json.dumps(settings, ensure_ascii=False).encode())).decode()


def household(household_id: str) -> str:
    return door_cards.qr_content(household_id)
