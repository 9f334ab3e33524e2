"""Roster upload for clerks: the same import as ``fangpin roster import``, into the clerk's own
township only; the error report is kept (``roster-report:<key>`` in ``fp_cases``) for download."""

from __future__ import annotations

import base64
import hashlib

from flask import Response, abort, request

from server.casework.roster import RosterError
from server.pipeline import roster_import
from server.web.clerk import bp
from server.web.clerk.common import clerk, couch, render, today, villages
from server.web.clerk.i18n import loc
from sync import names
from sync.clock import utc_now

MAX_BYTES = 20 * 1024 * 1024


@bp.route("/roster", methods=["GET", "POST"])
def roster_upload():
    user = clerk()
    visible = villages(user)
    context: dict = {"villages": visible, "result": None, "error": None}
    if request.method == "POST":
        upload = request.files.get("file")
        village = request.form.get("village") or None
        if upload is None or not upload.filename:
            context["error"] = loc({"zh": "请选择要导入的文件", "en": "choose a file to import"})
        elif village is not None and not user.sees_village(village):
            abort(403)
        else:
            content = upload.read(MAX_BYTES + 1)
            try:
                if len(content) > MAX_BYTES:
                    raise RosterError("文件超过 20 MB", "the file is larger than 20 MB")
                outcome = roster_import.run(
                    couch(), upload.filename, content, village, user.name, today(),
                    dry_run=bool(request.form.get("dry_run")), allowed=user.sees_village,
                )  # fmt: skip
            except RosterError as exc:
                context["error"] = loc({"zh": exc.zh, "en": exc.en})
            else:
                context["result"] = outcome
                if outcome.roster.errors or outcome.roster.warnings:
                    context["report"] = _keep_report(user.name, upload.filename, outcome.report_xlsx())
    return render("roster.html", **context)


def _keep_report(user: str, filename: str, body: bytes) -> str:
    key = hashlib.sha256(body).hexdigest()[:24]
    doc = {
        "_id": f"roster-report:{key}",
        "type": "roster_report",
        "by": user,
        "file": filename,
        "at": utc_now(),
        "_attachments": {"report.xlsx": {"content_type": roster_import.XLSX, "data": base64.b64encode(body).decode()}},
    }
    if couch().get(names.CASES, doc["_id"]) is None:
        couch().put(names.CASES, doc)
    return key


@bp.get("/roster/report/<key>.xlsx")
def roster_report(key: str):
    user = clerk()
    doc = couch().get(names.CASES, f"roster-report:{key}") if key.isalnum() else None
    if doc is None or (doc.get("by") != user.name and user.role != "admin"):
        abort(404)
    body = couch().get_attachment(names.CASES, doc["_id"], "report.xlsx")
    response = Response(body, mimetype=roster_import.XLSX)
    response.headers["Content-Disposition"] = f'attachment; filename="roster-errors-{key}.xlsx"'
    return response
