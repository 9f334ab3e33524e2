"""OpenRosa 1.0 for ODK Collect and Enketo: the form list, forms, manifests, and submissions.

A submission's XML instance becomes the same ``submission:<uuid>`` document a PouchDB tablet
writes (:mod:`forms.instance`), stored in the village database through the gateway's
CouchDB account with the gateway's write rules, so the one worker files both.

Resubmitting an instanceID with the same XML answers 201 and writes nothing; with other XML, 409.
ODK Collect splits a large submission over several POSTs that repeat the XML and bring more
attachments: those are added. An instance naming ``meta/deprecatedID`` (an edit made in Collect)
becomes a new revision of the submission it replaces. Which document an instanceID landed in is
kept as ``openrosa:<instanceID>`` in ``fp_cases``, written after the submission, so a retry after a
crash between the two finds the submission and completes the pointer.

Authentication is HTTP Basic over the Fangpin accounts (put the server behind HTTPS). Digest is not
offered: it needs an MD5-derived secret per account, weaker than the scrypt hashes kept now.
"""

from __future__ import annotations

import base64
import hashlib
from email.utils import formatdate
from xml.sax.saxutils import escape

from flask import Blueprint, Response, current_app, g, request, url_for

from forms import version_key
from forms.instance import Instance, InstanceError, head, read, uuid_of
from server.access.accounts import Village, list_villages
from server.pipeline import event_store
from server.validation.xpath import parse_date, parse_datetime
from server.web import form_media
from server.web.attachments import stored_type
from server.web.errors import ApiError
from server.web.gateway import write_denied
from sync import names
from sync.clock import utc_now
from sync.couch import Couch, CouchError

bp = Blueprint("openrosa", __name__)

ACCEPT_BYTES = 10 * 1024 * 1024  # what Collect is told; it splits larger submissions into several POSTs
XFORMS_LIST = "http://openrosa.org/xforms/xformsList"
MANIFEST = "http://openrosa.org/xforms/xformsManifest"
RESPONSE = "http://openrosa.org/http/response"


SAME_ID_OTHER_CONTENT = (
    "这个 instanceID 已提交过不同的内容；修改请在 Collect 中编辑（产生新的 instanceID）",
    "this instanceID was already submitted with other content; edit it in Collect (a new instanceID)",
)


class OpenRosaError(Exception):
    def __init__(self, status: int, zh: str, en: str) -> None:
        super().__init__(en)
        self.status, self.zh, self.en = status, zh, en


def message(status: int, nature: str, zh: str, en: str) -> Response:
    body = (
        f'<OpenRosaResponse xmlns="{RESPONSE}"><message nature="{nature}">{escape(zh)} / {escape(en)}</message>'
        "</OpenRosaResponse>"
    )
    return Response(body, status=status, mimetype="text/xml", headers={"Content-Type": "text/xml; charset=utf-8"})


@bp.errorhandler(OpenRosaError)
def _error(exc: OpenRosaError) -> Response:
    response = message(exc.status, "error", exc.zh, exc.en)
    if exc.status == 401:
        response.headers["WWW-Authenticate"] = 'Basic realm="fangpin", charset="UTF-8"'
    return response


@bp.errorhandler(ApiError)
def _api_error(exc: ApiError) -> Response:  # a refused login (401/429) said the OpenRosa way
    return _error(OpenRosaError(exc.status, exc.zh, exc.en))


@bp.before_request
def _require_header() -> None:
    if request.headers.get("X-OpenRosa-Version") != "1.0":
        raise OpenRosaError(400, "缺少请求头 X-OpenRosa-Version: 1.0", "the X-OpenRosa-Version: 1.0 header is required")
    if g.get("user") is None:
        raise OpenRosaError(401, "需要登录（用户名和密码）", "authentication required (name and password)")


@bp.after_request
def _headers(response: Response) -> Response:
    response.headers["X-OpenRosa-Version"] = "1.0"
    response.headers["Date"] = response.headers.get("Date") or _http_date()
    return response


def _http_date() -> str:
    return formatdate(usegmt=True)


def couch() -> Couch:
    return current_app.extensions["fangpin.couch"].admin


def latest_forms() -> dict[str, dict]:
    """Form id -> the newest published version's doc."""
    newest: dict[str, dict] = {}
    for doc in couch().iter_prefix(names.FORMS, "form:"):
        have = newest.get(doc["form_id"])
        if have is None or version_key(doc["version"]) > version_key(have["version"]):
            newest[doc["form_id"]] = doc
    return newest


# -- forms ---------------------------------------------------------------------------------------
@bp.get("/formList")
def form_list() -> Response:
    wanted = request.args.get("formID")
    items = []
    for form_id, doc in sorted(latest_forms().items()):
        if wanted and form_id != wanted:
            continue
        items.append(
            "<xform>"
            f"<formID>{escape(form_id)}</formID>"
            f"<name>{escape(doc.get('title') or form_id)}</name>"
            f"<version>{escape(doc['version'])}</version>"
            f"<hash>{escape(doc['hash'])}</hash>"
            f"<downloadUrl>{escape(url_for('openrosa.form_xml', form_id=form_id, _external=True))}</downloadUrl>"
            f"<manifestUrl>{escape(url_for('openrosa.manifest', form_id=form_id, _external=True))}</manifestUrl>"
            "</xform>"
        )
    body = f'<?xml version="1.0" encoding="UTF-8"?><xforms xmlns="{XFORMS_LIST}">{"".join(items)}</xforms>'
    return Response(body, mimetype="text/xml", headers={"Content-Type": "text/xml; charset=utf-8"})


def _form(form_id: str) -> dict:
    doc = latest_forms().get(form_id)
    if doc is None:
        raise OpenRosaError(404, f"没有表单 {form_id}", f"no form {form_id}")
    return doc


@bp.get("/forms/<form_id>.xml")
def form_xml(form_id: str) -> Response:
    doc = _form(form_id)
    xml = couch().get_attachment(names.FORMS, doc["_id"], "xform.xml")
    if xml is None:
        raise OpenRosaError(404, f"没有表单 {form_id}", f"no form {form_id}")
    return Response(xml, mimetype="text/xml", headers={"Content-Type": "text/xml; charset=utf-8"})


@bp.get("/forms/<form_id>/manifest")
def manifest(form_id: str) -> Response:
    """Media files of the form: every attachment of its doc besides the XForm itself, and the lists
    made for the signed-in user (:mod:`server.web.form_media`), each with the md5 of its content."""
    doc = _form(form_id)
    files = []
    for name, stub in sorted((doc.get("_attachments") or {}).items()):
        if name == "xform.xml" or name in form_media.FILES:
            continue
        digest = stub.get("digest", "")
        files.append((name, base64.b64decode(digest[4:]).hex() if digest.startswith("md5-") else ""))
    villages = list_villages(couch())
    files += [(name, form_media.md5(_generated(name, villages))) for name in form_media.FILES]
    items = "".join(
        f"<mediaFile><filename>{escape(name)}</filename><hash>md5:{md5}</hash>"
        f"<downloadUrl>{escape(url_for('openrosa.media', form_id=form_id, name=name, _external=True))}</downloadUrl>"
        "</mediaFile>"
        for name, md5 in files
    )
    body = f'<?xml version="1.0" encoding="UTF-8"?><manifest xmlns="{MANIFEST}">{items}</manifest>'
    return Response(body, mimetype="text/xml", headers={"Content-Type": "text/xml; charset=utf-8"})


def _generated(name: str, villages: list[Village]) -> bytes:
    model = current_app.extensions["fangpin.readmodel"]
    return form_media.make(
        name, g.user, villages, model.household_rows, lambda codes: event_store.open_in(couch(), codes)
    )


@bp.get("/forms/<form_id>/media/<path:name>")
def media(form_id: str, name: str) -> Response:
    doc = _form(form_id)
    if name in form_media.FILES:
        return Response(
            _generated(name, list_villages(couch())),
            mimetype="text/csv",
            headers={"Content-Type": "text/csv; charset=utf-8"},
        )
    stub = (doc.get("_attachments") or {}).get(name)
    data = couch().get_attachment(names.FORMS, doc["_id"], name) if stub and name != "xform.xml" else None
    if data is None:
        raise OpenRosaError(404, f"没有媒体文件 {name}", f"no media file {name}")
    return Response(data, mimetype=stub.get("content_type") or "application/octet-stream")


# -- submissions ---------------------------------------------------------------------------------
@bp.route("/submission", methods=["HEAD"])
def submission_head() -> Response:
    return Response(status=204, headers={"X-OpenRosa-Accept-Content-Length": str(ACCEPT_BYTES)})


@bp.post("/submission")
def submission() -> Response:
    user = g.user
    if user.role != "field":
        raise OpenRosaError(403, "只有网格员账号可以提交调查", "only grid worker (field) accounts submit surveys")
    upload = request.files.get("xml_submission_file")
    if upload is None:
        raise OpenRosaError(
            400,
            "缺少 xml_submission_file（multipart/form-data）",
            "xml_submission_file is missing (multipart/form-data)",
        )
    xml = upload.read()
    files = {}
    for key, f in request.files.items(multi=True):
        if key != "xml_submission_file" and f.filename:
            body = f.read()
            files[f.filename] = (stored_type(f.mimetype, body), body)
    catalog = current_app.extensions["fangpin.forms"]
    try:
        _, form_id, version = head(xml)
        instance = read(xml, catalog.spec(form_id, version))
    except InstanceError as exc:
        raise OpenRosaError(400, exc.zh, exc.en) from None
    village = instance.data.get("village_code")
    if not isinstance(village, str) or not names.is_village_code(village):
        raise OpenRosaError(400, "实例缺少有效的 village_code（12位村代码）", "the instance has no valid village_code")
    if village not in user.villages:
        raise OpenRosaError(403, f"你没有被分配到村 {village}", f"you are not assigned to village {village}")
    digest = hashlib.sha256(xml).hexdigest()
    pointer_id = f"openrosa:{instance.instance_id}"
    pointer = couch().get(names.CASES, pointer_id)
    if pointer is not None:
        return _again(pointer, digest, files, user.name)
    target = f"submission:{instance.uuid}"
    if instance.deprecated_id:
        old = couch().get(names.CASES, f"openrosa:{instance.deprecated_id}")
        target = old["doc_id"] if old else f"submission:{uuid_of(instance.deprecated_id)}"
    db = names.village_db(village)
    existing = couch().get(db, target)
    doc = {
        "_id": target,
        "type": "submission",
        "form_id": instance.form_id,
        "form_version": instance.version or "",
        "village_code": village,
        "household_id": instance.data.get("household_id") or "",
        "household_base_version": _base_version(instance.data),
        "submitted_by": user.name,
        "device_id": _text(instance.data.get("deviceid")) or instance.meta.get("deviceID") or "odk-collect",
        "started_at": _text(instance.data.get("start")) or instance.meta.get("timeStart") or None,
        "completed_at": _completed_at(instance),
        "data": instance.data,
        "openrosa": {"instance_id": instance.instance_id, "xml_sha256": digest, "received_at": utc_now()},
        "_attachments": {name: _inline(kind, body) for name, (kind, body) in files.items()},
    }
    doc = {k: v for k, v in doc.items() if v is not None}
    if existing is not None and (existing.get("openrosa") or {}).get("xml_sha256") == digest:
        doc = None  # a crash after the write and before the pointer: only the pointer is missing
    elif existing is not None and not instance.deprecated_id:
        raise OpenRosaError(409, *SAME_ID_OTHER_CONTENT)
    elif existing is not None:  # an edit made in Collect: a new revision of the submission it replaces
        doc["_rev"] = existing["_rev"]
        kept = {k: v for k, v in (existing.get("_attachments") or {}).items() if k not in doc["_attachments"]}
        doc["_attachments"].update({k: {"stub": True, **v} for k, v in kept.items()})
    if doc is not None:
        refusal = write_denied(user, village, doc, existing)
        if refusal is not None:
            raise OpenRosaError(refusal.status, refusal.zh, refusal.en)
        _store(db, doc)
    _point(pointer_id, village, target, digest)
    return message(201, "submit_success", "已收到调查", "survey received")


def _again(pointer: dict, digest: str, files: dict, user: str) -> Response:
    """The instanceID was received before: same XML → 201 (more attachments are added); other XML → 409."""
    if pointer["xml_sha256"] != digest:
        raise OpenRosaError(409, *SAME_ID_OTHER_CONTENT)
    db = names.village_db(pointer["village_code"])
    doc = couch().get(db, pointer["doc_id"])
    if doc is None or doc.get("submitted_by") != user:
        raise OpenRosaError(409, "该提交属于其他用户", "that submission belongs to another user")
    stored = doc.get("_attachments") or {}
    new = {}
    for name, (kind, body) in files.items():
        md5 = "md5-" + base64.b64encode(hashlib.md5(body).digest()).decode()
        if name in stored and stored[name].get("digest") != md5:
            raise OpenRosaError(
                409, f"附件 {name} 已提交过不同的内容", f"attachment {name} was already submitted with other content"
            )
        if name not in stored:
            new[name] = _inline(kind, body)
    if new:  # a later part of a split submission
        doc["_attachments"] = {**{k: {"stub": True, **v} for k, v in stored.items()}, **new}
        _store(db, doc)
    return message(201, "submit_success", "已收到调查", "survey received")


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _base_version(data: dict) -> int:
    """The household version the form's prefill came from (release 2026120105 on: the list's
    ``version``); 0 when the form had none, so everything changed since the roster shows."""
    value = data.get("household_base_version")  # typed by the form (an integer calculation)
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 10**9 else 0


def _completed_at(instance: Instance) -> str:
    """When the device says the survey was completed: the form's ``end`` metadata, Collect's
    ``meta/timeEnd``, else noon (Beijing time) of its ``survey_date``; the receipt time only when
    the instance says nothing. The form's ``today()`` is evaluated on that day, never the upload day."""
    for stated in (instance.data.get("end"), instance.meta.get("timeEnd")):
        if isinstance(stated, str) and parse_datetime(stated) is not None:
            return stated
    day = instance.data.get("survey_date")
    if isinstance(day, str) and parse_date(day) is not None:
        return f"{day}T12:00:00+08:00"
    return utc_now()


def _inline(kind: str, body: bytes) -> dict:
    return {"content_type": kind, "data": base64.b64encode(body).decode()}


def _store(db: str, doc: dict) -> None:
    """Written with the gateway's CouchDB account, as a tablet's push would be."""
    try:
        current_app.extensions["fangpin.couch"].gateway.put(db, doc)
    except CouchError as exc:
        if exc.status == 409:
            raise OpenRosaError(
                409, "提交正在被另一请求写入，请重试", "the submission is being written; retry"
            ) from None
        raise


def _point(pointer_id: str, village: str, doc_id: str, digest: str) -> None:
    doc = {"_id": pointer_id, "type": "openrosa", "village_code": village, "doc_id": doc_id, "xml_sha256": digest}
    try:
        couch().put(names.CASES, doc)
    except CouchError as exc:
        if exc.status != 409:
            raise
