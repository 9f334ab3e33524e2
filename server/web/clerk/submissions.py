"""One submission: every answer with its form label, issues beside their fields, photos, the
comments the grid worker sees, its history and audit log, and the clerk's decision buttons."""

from __future__ import annotations

import secrets

from flask import abort, current_app, request

from server.web.attachments import file_response, may_be_photo
from server.web.clerk import bp
from server.web.clerk.answers import answer_rows
from server.web.clerk.common import clerk, couch, model, render, villages
from sync import audit, names


def _locate(uuid: str) -> tuple[str, dict, dict | None]:
    """(village, review, submission) of a submission the clerk may see; 404 for any other."""
    user = clerk()
    row = model().find_review(uuid, [v.code for v in villages(user)])
    if row is None:
        abort(404)
    db = names.village_db(row["village_code"])
    found = couch().get_many(db, [f"review:{uuid}", f"submission:{uuid}"])
    review = found.get(f"review:{uuid}")
    if review is None:
        abort(404)
    return row["village_code"], review, found.get(f"submission:{uuid}")


@bp.get("/submissions/<uuid>")
def submission(uuid: str):
    village, review, doc = _locate(uuid)
    doc = doc or {}
    spec = current_app.extensions["fangpin.forms"].spec(review.get("form_id"), review.get("form_version"))
    data = doc.get("data") if isinstance(doc.get("data"), dict) else {}
    rows, loose = answer_rows(spec, data, review.get("issues", []))
    attached = (doc.get("_attachments") or {}).items()
    photos = [name for name, stub in attached if may_be_photo(stub)]
    files = [name for name, stub in attached if not may_be_photo(stub)]
    return render(
        "submission.html",
        uuid=uuid,
        village=village,
        review=review,
        doc=doc,
        rows=rows,
        loose=loose,
        photos=photos,
        files=files,
        audit_entries=audit.entries_for(couch(), f"submission:{uuid}"),
        action_key=secrets.token_hex(12),
        back=request.full_path.rstrip("?"),
    )


@bp.get("/submissions/<uuid>/files/<path:name>")
def submission_file(uuid: str, name: str):
    village, _, doc = _locate(uuid)
    stub = ((doc or {}).get("_attachments") or {}).get(name)
    if stub is None:
        abort(404)
    data = couch().get_attachment(names.village_db(village), f"submission:{uuid}", name)
    if data is None:
        abort(404)
    response = file_response(data, name)
    response.headers["Cache-Control"] = "private, max-age=3600"
    return response
