"""Field setup: enrolment QR codes (decoded with zbarimg) exchanged once for a device credential
that can be revoked; ODK Collect's settings QR; household door cards as HTML and PDF."""

from __future__ import annotations

import base64
import datetime as dt
import json
import subprocess
import zlib
from pathlib import Path

import pytest
from browser import CHROMIUM
from conftest import PASSWORD, fangpin
from test_clerk_app import TOKEN, sign_in
from test_household_worker import roster

from server.access import enrolment


def decode(path: Path) -> list[str]:
    """Every QR code in an image, as zbarimg (Debian zbar-tools) reads it."""
    out = subprocess.run(["zbarimg", "--quiet", "--raw", str(path)], capture_output=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return [line for line in out.stdout.decode("utf-8").splitlines() if line]


def svg_to_png(svg: Path, png: Path) -> None:
    """Rasterise an SVG in headless Chromium, the way a browser shows it."""
    page = svg.with_suffix(".html")
    page.write_text(f'<html><body style="margin:0;background:#fff"><img src="{svg.name}" width="400"></body></html>')
    subprocess.run([CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
                    "--disable-background-networking", f"--screenshot={png}", "--window-size=500,500",
                    page.as_uri()], capture_output=True, timeout=60, check=True)  # fmt: skip


def test_the_enrolment_qr_carries_the_sync_setup_and_no_password(conn, township, settings, tmp_path):
    png, svg = tmp_path / "enrol.png", tmp_path / "enrol.svg"
    fangpin(settings, "users", "enrol", "gw_a", "--server", "https://fangpin.example.cn", "--png", str(png),
            "--svg", str(svg))  # fmt: skip
    [text] = decode(png)
    payload = json.loads(text)
    assert payload["user"] == "gw_a" and payload["sync_url"] == "https://fangpin.example.cn/sync/"
    assert payload["databases"] == ["fp_forms", f"fp_v_{township.a}"] and len(payload["token"]) >= 30
    assert PASSWORD not in text and payload["expires_at"] > dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    svg_to_png(svg, tmp_path / "svg.png")
    assert decode(tmp_path / "svg.png") == [text]  # the SVG says the same


def test_a_token_is_exchanged_once_for_a_device_credential_that_can_be_revoked(client, conn, township, settings):
    made = enrolment.create(conn.admin, "gw_a", "clerk", dt.datetime.now(dt.UTC))
    got = client.post("/api/v1/enrol", json={"token": made.token, "device_id": "tab-17", "label": "王的平板"})
    assert got.status_code == 200, got.get_json()
    body = got.get_json()
    assert body["user"] == "gw_a" and body["password"].startswith("device.tab-17.")
    assert body["sync"]["databases"] == ["fp_forms", f"fp_v_{township.a}"]
    again = client.post("/api/v1/enrol", json={"token": made.token, "device_id": "tab-18"})
    assert again.status_code == 409 and "已使用" in again.get_json()["message"]["zh"]
    device = ("gw_a", body["password"])
    assert client.get(f"/sync/fp_v_{township.a}", auth=device).status_code == 200
    assert client.get("/api/v1/me", auth=device).get_json()["name"] == "gw_a"
    assert client.get(f"/sync/fp_v_{township.a}", auth=("gw_b", body["password"])).status_code == 401
    listed = fangpin(settings, "users", "devices", "gw_a").stdout
    assert "tab-17" in listed and "active" in listed
    cookie = client.application.test_client()
    assert cookie.post("/api/v1/session", json={"name": "gw_a", "password": body["password"]}).status_code == 200
    assert cookie.get("/api/v1/me").status_code == 200  # a session opened with the device credential
    fangpin(settings, "users", "revoke", "gw_a", "tab-17")
    assert client.get(f"/sync/fp_v_{township.a}", auth=device).status_code == 401  # at once
    assert cookie.get("/api/v1/me").status_code == 401  # and the session opened with it ends too
    assert client.get(f"/sync/fp_v_{township.a}", auth=("gw_a", PASSWORD)).status_code == 200  # the account lives on


def test_an_expired_or_unknown_token_is_refused(client, conn, township):
    stale = enrolment.create(conn.admin, "gw_a", "clerk", dt.datetime.now(dt.UTC) - dt.timedelta(minutes=16), 15)
    expired = client.post("/api/v1/enrol", json={"token": stale.token, "device_id": "tab-1"})
    assert expired.status_code == 410 and "过期" in expired.get_json()["message"]["zh"]
    assert client.post("/api/v1/enrol", json={"token": "nope", "device_id": "tab-1"}).status_code == 404
    bad = client.post("/api/v1/enrol", json={"token": stale.token, "device_id": "../x"})
    assert bad.status_code == 400
    with pytest.raises(enrolment.EnrolmentError):
        enrolment.create(conn.admin, "clerk", "boss", dt.datetime.now(dt.UTC))  # only grid workers enrol


def test_odk_collect_settings_qr_decodes_to_its_settings(conn, township, settings, tmp_path):
    png = tmp_path / "odk.png"
    refused = fangpin(settings, "users", "odk-qr", "gw_a", "--server", "http://10.0.0.5:8080", "--png", str(png),
                      check=False)  # fmt: skip
    assert refused.returncode == 1 and "https" in refused.stderr and "只在 https 上发送密码" in refused.stderr
    assert "--insecure" in refused.stderr and not png.exists()
    fangpin(settings, "users", "odk-qr", "gw_a", "--server", "http://10.0.0.5:8080", "--png", str(png), "--insecure")
    assert png.exists()
    fangpin(settings, "users", "odk-qr", "gw_a", "--server", "https://fangpin.example.cn", "--png", str(png))
    [text] = decode(png)
    settings_json = json.loads(zlib.decompress(base64.b64decode(text)))
    general = {"server_url": "https://fangpin.example.cn", "username": "gw_a", "form_update_mode": "match_exactly",
               "autosend": "wifi_and_cellular"}  # fmt: skip
    assert settings_json["general"] == general
    assert "password" not in json.dumps(settings_json)


def test_door_cards_as_html_and_pdf_show_no_id_numbers_and_carry_the_household_qr(client, conn, township, tmp_path):
    roster(conn, township.a, 10)
    sign_in(client)
    page = client.get(f"/clerk/cards?village={township.a}").get_data(as_text=True)
    assert page.count('class="door-card"') == 10 and "王秀英" in page and "户号 0001" in page
    assert "11010519491231002X" not in page and "13800138000" not in page
    # opened from the menu, the page shows the first village's cards, not an empty page
    assert client.get("/clerk/cards").get_data(as_text=True).count('class="door-card"') == 10
    empty = client.get(f"/clerk/cards?village={township.b}").get_data(as_text=True)
    assert 'id="no-cards"' in empty and "请先导入花名册" in empty
    pdf = client.get(f"/clerk/cards.pdf?village={township.a}")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    path = tmp_path / "cards.pdf"
    path.write_bytes(pdf.data)
    text = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, check=True).stdout.decode()
    assert "王秀英" in text and "户号 0001" in text and "11010519491231002X" not in text
    subprocess.run(["pdftoppm", "-r", "150", "-f", "1", "-l", "1", "-png", str(path), str(tmp_path / "page")],
                   check=True)  # fmt: skip
    [image] = tmp_path.glob("page*.png")
    assert sorted(decode(image)) == [f"fangpin:household:{township.a}-{n:04d}" for n in range(1, 9)]  # 8 a page
    assert client.get("/clerk/cards.pdf?village=500112105301").status_code == 404  # another township


def test_clerks_make_enrolment_codes_and_revoke_devices_of_their_township_only(client, conn, township):
    sign_in(client)
    page = client.get("/clerk/devices").get_data(as_text=True)
    assert 'data-user="gw_a"' in page and 'data-user="gw_other"' not in page
    made = client.post("/clerk/devices/gw_a/enrol", data={"csrf_token": TOKEN.search(page).group(1)})
    assert made.status_code == 200 and 'id="enrol-png" ' in made.get_data(as_text=True)
    assert (
        client.post("/clerk/devices/gw_other/enrol", data={"csrf_token": TOKEN.search(page).group(1)}).status_code
        == 404
    )
    refused = client.get("/clerk/devices/gw_a/odk.png")  # the test client speaks http
    assert refused.status_code == 400 and "只在 https 上发送密码" in refused.get_data(as_text=True)
    assert 'id="odk-https"' in page and "insecure=1" in page  # the page says why, and offers the test-only way
    assert client.get("/clerk/devices/gw_a/odk.png?insecure=1").mimetype == "image/png"
    secure = client.get("/clerk/devices", base_url="https://fangpin.example.cn").get_data(as_text=True)
    assert 'id="odk-https"' not in secure and "insecure=1" not in secure


@pytest.mark.slow
def test_a_tablet_enrolled_from_the_scanned_qr_syncs_with_its_own_credential(conn, township, settings, web, tablet,
                                                                            spawn, tmp_path):  # fmt: skip
    png = tmp_path / "enrol.png"
    fangpin(settings, "users", "enrol", "gw_a", "--server", web.url, "--png", str(png))
    [scanned] = decode(png)
    pad = tablet("enrolled")
    result = pad.run("enrol", "--payload", scanned, "--device", "tab-qr")
    assert result["enrolled"] is True and result["user"] == "gw_a"
    state = json.loads((pad.dir / "tablet.json").read_text())
    assert state["password"].startswith("device.tab-qr.") and PASSWORD not in json.dumps(state)
    pad.run("pull")
    pad.run("create", "--count", "2")
    pushed = pad.run("push")
    assert pushed["ok"]
    assert len(list(conn.admin.iter_prefix(f"fp_v_{township.a}", "submission:"))) == 2
    fangpin(settings, "users", "revoke", "gw_a", "tab-qr")
    assert pad.run("pull", check=False)["ok"] is False  # refused at once
    assert not pad.run("enrol", "--payload", scanned, "--device", "tab-qr2", check=False)["ok"]  # used once


def pdf_boxes(path: Path) -> tuple[list[tuple[str, tuple[float, ...]]], list[tuple[float, ...]]]:
    """Words and images of a PDF's first page as (x0, y0, x1, y1) in points from the top left:
    words as poppler's pdftotext places them, images from pdftocairo's SVG of the page."""
    import re

    words_xml = subprocess.run(["pdftotext", "-bbox", "-f", "1", "-l", "1", str(path), "-"], capture_output=True,
                               check=True).stdout.decode()  # fmt: skip
    word = r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([^<]*)</word>'
    words = [(m[5], tuple(float(v) for v in m.groups()[:4])) for m in re.finditer(word, words_xml)]
    svg_path = path.with_suffix(".svg")
    subprocess.run(["pdftocairo", "-svg", "-f", "1", "-l", "1", str(path), str(svg_path)], check=True)
    svg = svg_path.read_text()
    sizes = {m[1]: (float(m[2]), float(m[3])) for m in re.finditer(r'<image id="([^"]+)" width="([\d.]+)" '
                                                                   r'height="([\d.]+)"', svg)}  # fmt: skip
    images = []
    for m in re.finditer(r'<use xlink:href="#([^"]+)" transform="matrix\(([-\d.e]+),0,0,([-\d.e]+),([-\d.e]+),'
                         r'([-\d.e]+)\)"', svg):  # fmt: skip
        if m[1] in sizes:
            w, h = sizes[m[1]]
            x, y = float(m[4]), float(m[5])
            images.append((x, y, x + w * float(m[2]), y + h * float(m[3])))
    return words, images


def test_door_card_text_never_runs_into_the_qr_code_nor_off_the_card(client, conn, township, tmp_path):
    from server.pipeline import household_store

    long_name = "阿卜杜热合曼·买买提艾力江"  # 13 characters
    household_store.add_roster(conn.admin, township.a, {
        f"{township.a}-0001": {"head_name": long_name},
        f"{township.a}-0002": {"head_name": "王秀英"},
        f"{township.a}-9999": {"head_name": "欧阳"},
        f"new-{'d' * 8}-{'e' * 4}-4{'f' * 3}-8{'a' * 3}-{'b' * 12}": {"head_name": "司马相如"},
    }, "2026-11-01T00:00:00Z")  # fmt: skip
    sign_in(client)
    path = tmp_path / "cards.pdf"
    path.write_bytes(client.get(f"/clerk/cards.pdf?village={township.a}").data)
    words, images = pdf_boxes(path)
    assert len(images) == 4 and {"户号", "户主"} <= {w for w, _ in words}
    overlaps = [(w, box) for w, box in words for img in images
                if box[0] < img[2] and img[0] < box[2] and box[1] < img[3] and img[1] < box[3]]  # fmt: skip
    assert overlaps == []
    a4_width = 595.3
    assert all(box[0] > 0 and box[2] < a4_width for _, box in words)
    text = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, check=True).stdout.decode()
    assert "王秀英" in text and "new-dddddddd-eeee-4fff-8aaa-bbbbbbbbbbbb" in text
    assert long_name in text.replace("\n", "")  # a long name wraps: smaller, never cut
