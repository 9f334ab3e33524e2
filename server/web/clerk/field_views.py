"""Field setup in the clerk app: tablets (enrolment QR codes, ODK Collect settings QR, revoking a
device) and household door cards (printable HTML, and PDF) with a QR code of the household id."""

from __future__ import annotations

import datetime as dt
import io

from flask import Response, abort, flash, redirect, request, url_for

from server.access import enrolment
from server.access.accounts import list_users
from server.casework.door_cards import entries as card_entries
from server.web import qr
from server.web.clerk import bp
from server.web.clerk.common import clerk, couch, model, render, villages
from server.web.clerk.i18n import gettext, loc
from server.web.gateway import sync_databases


def _field_user(name: str):
    user = clerk()
    found = next((u for u in list_users(couch()) if u.name == name and u.role == "field"), None)
    if found is None or not any(user.sees_village(v) for v in found.villages):
        abort(404)
    return found


@bp.get("/devices")
def devices():
    user = clerk()
    field = [u for u in list_users(couch()) if u.role == "field" and any(user.sees_village(v) for v in u.villages)]
    people = [(u, enrolment.devices(couch(), u.name)) for u in sorted(field, key=lambda u: u.name)]
    return render("devices.html", people=people, secure=request.host_url.startswith("https://"))


@bp.post("/devices/<name>/enrol")
def enrol(name: str):
    person = _field_user(name)
    ttl = request.form.get("ttl", "15").strip()
    try:
        if not ttl.isdigit() or len(ttl) > 6:
            raise enrolment.EnrolmentError(400, "有效期须为分钟数（整数）", "the lifetime must be whole minutes")
        made = enrolment.create(couch(), person.name, clerk().name, dt.datetime.now(dt.UTC), int(ttl))
    except enrolment.EnrolmentError as exc:
        flash(loc({"zh": exc.zh, "en": exc.en}), "error")
        return redirect(url_for("clerk.devices"))
    payload = qr.enrolment(request.host_url, person.name, sync_databases(person), made.token, made.expires_at)
    return render("enrol.html", person=person, expires_at=made.expires_at, png=qr.data_uri(payload),
                  svg=qr.svg(payload).decode())  # fmt: skip


@bp.get("/devices/<name>/odk.<fmt>")
def odk_settings(name: str, fmt: str):
    person = _field_user(name)
    try:
        payload = qr.odk_settings(request.host_url, person.name, insecure=request.args.get("insecure") == "1")
    except qr.InsecureServer as exc:
        return render("error.html", message=loc({"zh": exc.zh, "en": exc.en}), code=400), 400
    if fmt == "png":
        return Response(qr.png(payload), mimetype="image/png")
    if fmt == "svg":
        return Response(qr.svg(payload), mimetype="image/svg+xml")
    abort(404)


def _on_device(name: str, device_id: str, act, done: str):
    """A clerk's action on one tablet of a grid worker the clerk sees; said back as a flash."""
    person = _field_user(name)
    try:
        act(couch(), person.name, device_id, clerk().name, dt.datetime.now(dt.UTC))
    except enrolment.EnrolmentError as exc:
        flash(loc({"zh": exc.zh, "en": exc.en}), "error")
    else:
        flash(gettext(done, d=device_id), "done")
    return redirect(url_for("clerk.devices"))


@bp.post("/devices/<name>/<device_id>/revoke")
def revoke(name: str, device_id: str):
    return _on_device(name, device_id, enrolment.revoke, "已吊销设备 {d}")


@bp.post("/devices/<name>/<device_id>/resync")
def resync(name: str, device_id: str):
    """The tablet drops its copy of the village data and pulls it again at its next report, after
    it has pushed everything it holds."""
    return _on_device(name, device_id, enrolment.request_resync, "已要求设备 {d} 重新同步")


# -- door cards ------------------------------------------------------------------------------------
def _cards(village: str) -> tuple[str, list[dict]]:
    user = clerk()
    chosen = next((v for v in villages(user) if v.code == village), None)
    if chosen is None:
        abort(404)
    return chosen.name, card_entries(model().household_rows([village]))


@bp.get("/cards")
def door_cards():
    """The cards of the village asked for, or of the clerk's first village: the page opens on cards."""
    visible = villages(clerk())
    village = request.args.get("village", "") or (visible[0].code if visible else "")
    if not village:
        return render("cards.html", village=None, name=None, cards=[], villages=visible, svg=None)
    name, cards = _cards(village)
    return render("cards.html", village=village, name=name, cards=cards, villages=visible,
                  svg=lambda hid: qr.svg(qr.household(hid)).decode())  # fmt: skip


FONT = "STSong-Light"  # Adobe's CJK font every PDF reader has


def fitted(text: str, size: float, width: float, smallest: float = 11) -> tuple[list[str], float]:
    """``text`` as lines that fit ``width``: one line at the largest size up to ``size``; else two
    lines at ``smallest``; else one line cut with an ellipsis at 7 pt. Nothing on a card ever runs
    over the QR code or off the card, and a long name stays whole wherever two lines hold it."""
    from reportlab.pdfbase.pdfmetrics import stringWidth

    one = min(size, size * width / max(stringWidth(text, FONT, size), 1e-6))
    if one >= smallest:
        return [text], one
    lines = [""]
    for char in text:
        if stringWidth(lines[-1] + char, FONT, smallest) > width:
            lines.append("")
        lines[-1] += char
    if len(lines) <= 2:
        return lines, smallest
    while stringWidth(text, FONT, 7) > width:
        text = text[:-2] + "…"
    return [text], 7


@bp.get("/cards.pdf")
def door_cards_pdf():
    """A4, eight cards a page (2 × 4).

    Each card: the village across the top, household number and head's name in the left column,
    the QR code (40 mm, read at arm's length) on the right, the household id across the bottom.
    Every line is sized to its own box, so long names and ``new-…`` ids never reach the QR code.
    """
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import mm
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    village = request.args.get("village", "")
    name, cards = _cards(village)
    pdfmetrics.registerFont(UnicodeCIDFont(FONT))
    out = io.BytesIO()
    pdf = canvas.Canvas(out, pagesize=A4)
    pdf.setTitle(f"{name} 户卡")
    width, height = A4
    card_w, card_h = (width - 20 * mm) / 2, (height - 20 * mm) / 4
    side, margin, gap = 40 * mm, 7 * mm, 3 * mm
    full = card_w - 2 * margin  # the top and bottom lines
    column = card_w - margin - side - gap - 6 * mm  # left of the QR code
    for n, card in enumerate(cards):
        if n and n % 8 == 0:
            pdf.showPage()
        col, row = n % 2, (n % 8) // 2
        x, y = 10 * mm + col * card_w, height - 10 * mm - (row + 1) * card_h
        pdf.rect(x + 2 * mm, y + 2 * mm, card_w - 4 * mm, card_h - 4 * mm)
        lines = [
            (f"{name}  {village}", 13, full, card_h - 10 * mm),
            (f"户号 {card['number']}", 22, column, card_h - 26 * mm),
            (f"户主 {card['head']}", 18, column, card_h - 38 * mm),
            (card["id"], 9, full, 6 * mm),
        ]
        for text, size, room, baseline in lines:
            # the font reaches the name separator · (阿卜杜·买买提) only as U+30FB; U+00B7 prints blank
            parts, size = fitted(text.replace("\u00b7", "\u30fb"), size, room)
            pdf.setFont(FONT, size)
            for i, part in enumerate(parts):
                pdf.drawString(x + margin, y + baseline - i * size * 1.25, part)
        pdf.drawImage(ImageReader(io.BytesIO(qr.png(qr.household(card["id"])))), x + card_w - side - 6 * mm,
                      y + 12 * mm, side, side)  # fmt: skip
    pdf.save()
    response = Response(out.getvalue(), mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'inline; filename="cards-{village}.pdf"'
    return response
