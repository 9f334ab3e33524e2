"""One submission: every answer with its form label, issues beside their fields, photos, the
comments the grid worker sees, its history and audit log, and the clerk's decision buttons."""

from __future__ import annotations

import secrets

from flask import abort, current_app, request, url_for

from server.web.attachments import file_response, may_be_photo
from server.web.clerk import bp, queue
from server.web.clerk.answers import answer_rows
from server.web.clerk.common import clerk, couch, model, places, render, villages
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


def _answers(review: dict, doc: dict) -> tuple[list, list, list[str], list[str]]:
    """(answer rows, issues without a field, photo names, other file names) of a submission."""
    spec = current_app.extensions["fangpin.forms"].spec(review.get("form_id"), review.get("form_version"))
    data = doc.get("data") if isinstance(doc.get("data"), dict) else {}
    rows, loose = answer_rows(spec, data, review.get("issues", []), places())
    attached = (doc.get("_attachments") or {}).items()
    return rows, loose, [n for n, s in attached if may_be_photo(s)], [n for n, s in attached if not may_be_photo(s)]


@bp.get("/submissions/<uuid>")
def submission(uuid: str):
    village, review, doc = _locate(uuid)
    doc = doc or {}
    rows, loose, photos, files = _answers(review, doc)
    queue_url = request.args.get("back", "")
    if not (queue_url.startswith("/clerk/queue") and not queue_url.startswith("//")):
        queue_url = url_for("clerk.queue")
    order = [r["id"] for r in queue.matching(clerk(), queue.queue_filters(queue_url))]
    at = order.index(uuid) if uuid in order else None
    link = lambda i: url_for("clerk.submission", uuid=order[i], back=queue_url)  # noqa: E731
    step = {
        "prev": link(at - 1) if at else None,
        "next": link(at + 1) if at is not None and at + 1 < len(order) else None,
        "position": (at + 1, len(order)) if at is not None else None,
    }
    return render(
        "submission.html",
        queue_url=queue_url,
        step=step,
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


@bp.get("/submissions/<uuid>/preview")
def submission_preview(uuid: str):
    """The answers and issues alone, for the queue's preview beside the list."""
    _, review, doc = _locate(uuid)
    rows, loose, photos, _ = _answers(review, doc or {})
    back = request.args.get("back", "")
    return render("submission_preview.html", uuid=uuid, review=review, rows=rows, loose=loose, photos=photos,
                  back=back if back.startswith("/clerk/queue") else url_for("clerk.queue"))  # fmt: skip


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
