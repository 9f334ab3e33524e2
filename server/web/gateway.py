"""The sync gateway: ``/sync/<db>/…`` speaks the CouchDB replication protocol to tablets.

CouchDB never faces the network. This blueprint authenticates the user, lets through only the
endpoints replication needs, only on the user's databases (``fp_forms`` read-only, the
``fp_v_<village>`` of assigned villages), and filters writes so that a field user creates or
updates only its own ``submission:`` docs for that village. Everything else is refused here with
a CouchDB-style JSON error and is never forwarded; that is also what keeps the embedded
pouchdb-server alive (it crashes on some requests, e.g. ``_changes?filter=_selector``).

Requests go upstream with the gateway's own non-admin CouchDB account, whose
``validate_doc_update`` repeats the write rules. Long-poll ``_changes`` is answered here (see
:class:`sync.watch.FeedWatch`: one upstream long-poll per database, whatever the number of
waiting tablets) because pouchdb-server ignores ``timeout``.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote

from flask import Blueprint, Response, current_app, g, request, stream_with_context

from forms.spec import MAX_ITEMS, MAX_ITEMS_DEFAULT
from server.access.accounts import User
from server.validation.envelope import check_envelope
from server.web.auth import require_user
from server.web.errors import ApiError, bad_request, forbidden
from server.web.json_input import parse, unstorable
from server.web.shared_reads import SharedReads
from sync import names
from sync.couch import Couch, CouchError, CouchUnavailable, doc_path, raise_if_storage_full, seq_param
from sync.watch import FeedWatch

bp = Blueprint("gateway", __name__, url_prefix="/sync")

CHANGES_PARAMS = {
    "since",
    "limit",
    "style",
    "include_docs",
    "conflicts",
    "descending",
    "feed",
    "heartbeat",
    "timeout",
    "seq_interval",
    "attachments",
    "att_encoding_info",
    "update_seq",
}
ALL_DOCS_PARAMS = {
    "include_docs",
    "conflicts",
    "startkey",
    "endkey",
    "start_key",
    "end_key",
    "key",
    "keys",
    "limit",
    "skip",
    "descending",
    "inclusive_end",
    "update_seq",
    "attachments",
}
DOC_PARAMS = {
    "rev",
    "revs",
    "revs_info",
    "open_revs",
    "latest",
    "attachments",
    "att_encoding_info",
    "conflicts",
    "atts_since",
}
BULK_GET_PARAMS = {"revs", "attachments", "latest"}
# The ``_local`` ids PouchDB's replicator uses for its checkpoints: base64 of an md5 with ``/`` as
# ``.`` and ``+`` as ``_``. Nothing else of ``_local`` is a tablet's business.
REPLICATION_ID = re.compile(r"^[A-Za-z0-9._]{22}==\Z")
MAX_LOCAL_BYTES = 16 * 1024  # a checkpoint holds five history entries of two seqs each
PASS_HEADERS = ("Content-Type", "ETag", "Cache-Control")
READ_POSTS = (["_revs_diff"], ["_bulk_get"], ["_all_docs"])  # POSTs that only read
MAX_LONGPOLL_S = 55.0
RECHECK_S = 15.0  # how often a waiting long-poll checks that its caller may still read


def upstream() -> Couch:
    return current_app.extensions["fangpin.couch"].gateway


def watcher() -> FeedWatch:
    return current_app.extensions["fangpin.feed_watch"]


def shared_reads() -> SharedReads:
    return current_app.extensions["fangpin.shared_reads"]


# -- authorization ----------------------------------------------------------------------------
def sync_databases(user: User) -> list[str]:
    """Logical databases a user may replicate."""
    if user.role != "field":
        return []
    return [names.FORMS, *(names.village_db(code) for code in user.villages)]


def authorize_db(user: User, db: str, write: bool) -> str | None:
    """Village code for a village db, None for fp_forms; raises ApiError when refused."""
    if db not in sync_databases(user):
        if user.role != "field":
            raise forbidden("同步网关只对网格员账号开放", "the sync gateway is for field accounts only")
        raise forbidden(f"无权访问数据库 {db}", f"you have no access to database {db}")
    village = names.village_of(db)
    if write and village is None:
        raise forbidden(f"{db} 是只读的", f"{db} is read-only")
    return village


@dataclass(frozen=True)
class Refusal:
    """Why a device may not write a document, as an HTTP status and CouchDB error name."""

    status: int
    error: str
    zh: str
    en: str

    def stub(self, doc_id: Any) -> dict:
        return {"id": doc_id, "error": self.error, "reason": f"{self.zh} / {self.en}"}

    def exception(self) -> ApiError:
        return ApiError(self.status, self.error, self.zh, self.en)


def forbid(zh: str, en: str) -> Refusal:
    return Refusal(403, "forbidden", zh, en)


def write_denied(user: User, village: str, doc: Any, existing: dict | None) -> Refusal | None:
    """Why a device may not write ``doc``, or None when it may."""
    if not isinstance(doc, dict) or not isinstance(doc.get("_id"), str):
        return Refusal(400, "bad_request", "文档缺少 _id", "document has no _id")
    doc_id = doc["_id"]
    if not doc_id.startswith("submission:") or len(doc_id) <= len("submission:"):
        return forbid("设备只能写入 submission: 文档", "devices may only write submission: documents")
    if doc.get("_deleted"):
        return forbid("提交记录不能删除", "submissions cannot be deleted")
    if doc.get("type") != "submission":
        return forbid('type 必须为 "submission"', 'type must be "submission"')
    if doc.get("submitted_by") != user.name:
        return forbid(
            f"submitted_by 必须是你的用户名 {user.name}", f"submitted_by must be your own user name {user.name}"
        )
    if doc.get("village_code") != village:
        return forbid(
            f"village_code 必须为本村代码 {village}", f"village_code must be this database's village {village}"
        )
    if existing is not None and existing.get("submitted_by") != user.name:
        return forbid("不能修改他人的提交记录", "a submission of another user cannot be changed")
    return not_a_submission(doc, village)


def not_a_submission(doc: dict, village: str) -> Refusal | None:
    """Refuse what cannot be processed at all; a submission whose answers are wrong is still taken.

    The envelope must be complete and well typed (that is what the worker needs to file it) and the
    document, attachments aside, must stay under the size limit.
    """
    broken = [i for i in check_envelope(doc, village, {}) if i["code"] in ("envelope.missing", "envelope.type")]
    if broken:
        return Refusal(
            400,
            "bad_request",
            "不是有效的提交记录：" + "；".join(i["message"]["zh"] for i in broken),
            "not a submission: " + "; ".join(i["message"]["en"] for i in broken),
        )
    why = unstorable(doc)
    if why:
        return Refusal(400, "bad_request", "文档" + why[0], "the document " + why[1])
    longest = longest_list(doc.get("data"))
    if longest > MAX_LIST:
        return Refusal(413, "too_large", f"答案中有一组 {longest} 条，任何重复组最多 {MAX_LIST} 条",
                       f"an answer holds {longest} entries; no repeat may have more than {MAX_LIST}")  # fmt: skip
    attached = len(doc.get("_attachments") or {}) if isinstance(doc.get("_attachments"), dict) else 0
    if attached > MAX_ATTACHMENTS:
        return Refusal(413, "too_large", f"附件 {attached} 个，最多 {MAX_ATTACHMENTS} 个",
                       f"{attached} attachments; at most {MAX_ATTACHMENTS} are allowed")  # fmt: skip
    size = len(json.dumps({k: v for k, v in doc.items() if k != "_attachments"}, ensure_ascii=False).encode())
    limit = current_app.config["MAX_DOC_BYTES"]
    if size > limit:
        return Refusal(
            413,
            "too_large",
            f"文档过大（{size} 字节，上限 {limit} 字节，附件除外）",
            f"document too large ({size} bytes; the limit is {limit} bytes, attachments aside)",
        )
    return None


# The most entries any repeat of any form may hold, and photos plus a few single image answers
# (a signature): a survey is bounded before it is stored (see forms.spec.MAX_ITEMS).
MAX_LIST = max(MAX_ITEMS_DEFAULT, *MAX_ITEMS.values())
MAX_ATTACHMENTS = MAX_ITEMS["photos"] + 5


def longest_list(value: Any) -> int:
    """The most entries of any list inside ``value`` (a tablet's answers); no recursion, so a
    deeply nested body cannot overflow the stack here."""
    longest, todo = 0, [value]
    while todo:
        item = todo.pop()
        if isinstance(item, dict):
            todo.extend(item.values())
        elif isinstance(item, list):
            longest = max(longest, len(item))
            todo.extend(item)
    return longest


# -- request plumbing -------------------------------------------------------------------------
def raw_segments() -> list[str]:
    """Path segments after ``/sync`` as sent (still percent-encoded), so ``%2F`` stays inside one.

    A ``.`` or ``..`` segment (raw, as ``curl --path-as-is`` sends it, or encoded as ``%2e``) and
    an empty one are refused: forwarded upstream, the HTTP client would resolve them and the
    request would leave the database it was authorized for (``/sync/<own db>/../_all_dbs``).
    """
    raw = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI") or request.full_path
    path = raw.split("?", 1)[0]
    prefix = request.script_root + "/sync"
    rest = path[len(prefix) :] if path.startswith(prefix) else path
    segments = [unquote(s) for s in rest.strip("/").split("/")] if rest.strip("/") else []
    if any(s in ("", ".", "..") for s in segments):
        raise bad_request("路径中不能有空段或 . / .. 段", "the path must not contain empty, '.' or '..' segments")
    return segments


def hidden(doc_id: Any) -> bool:
    """Docs a tablet never sees, on any read endpoint: design docs (indexes, the server's
    ``validate_doc_update``) are the server's business, and ``_local`` ones are not replicated."""
    return not isinstance(doc_id, str) or doc_id.startswith(("_design/", "_local/"))


# In a village database a grid worker sees the village's households and their own surveys and
# reviews only: a colleague's (with its ID numbers and health answers) never reaches their tablet.
SHARED = ("household:",)
OWNED = ("submission:", "review:")


def visible(doc_id: Any, doc: Any) -> bool:
    """Whether the caller may see ``doc`` (its latest body; None when unknown or deleted)."""
    if hidden(doc_id):
        return False
    if g.get("sync_village") is None:  # fp_forms: every form is everyone's
        return True
    if doc_id.startswith(SHARED):
        return True
    if not doc_id.startswith(OWNED) or not isinstance(doc, dict):
        return False
    if doc.get("_deleted") and "submitted_by" not in doc:  # a tombstone (a conflict's archived loser)
        return not foreign(doc_id)  # carries no owner: the document's winning revision says whose it is
    return doc.get("submitted_by") == g.sync_user


def foreign(doc_id: str) -> bool:
    """A doc the caller may not see, looked up by id (for reads that carry no body): only a
    village's surveys and reviews need their body read to know."""
    if hidden(doc_id):
        return True
    if g.get("sync_village") is None or doc_id.startswith(SHARED):
        return False
    return not visible(doc_id, upstream().get(g.sync_db, doc_id))


def with_docs(params: dict[str, str]) -> tuple[dict[str, str], bool]:
    """Upstream reads of a village db carry the docs (ownership is in the body); whether the
    tablet asked for them."""
    asked = params.get("include_docs") == "true"
    return ({**params, "include_docs": "true"} if g.get("sync_village") else params), asked


def filtered_params(allowed: set[str]) -> dict[str, str]:
    extra = sorted(set(request.args) - allowed)
    if extra:
        raise bad_request(
            f"不支持的参数：{', '.join(extra)}", f"unsupported parameter(s): {', '.join(extra)}", parameters=extra
        )
    bad = sorted(k for k in request.args if not _param_ok(k, request.args[k]))
    if bad:
        raise bad_request(
            f"参数值无效：{', '.join(bad)}", f"invalid value for parameter(s): {', '.join(bad)}", parameters=bad
        )
    return {k: request.args[k] for k in request.args}


# What each forwarded parameter may hold: CouchDB (and pouchdb-server, which answers some malformed
# values with a 500, e.g. open_revs=00) sees nothing else.
_BOOLEANS = {"true", "false"}
_SEQ = re.compile(r"(now|[0-9]{1,20}|[0-9]{1,20}-[A-Za-z0-9_-]{1,4000})\Z")
_REV = re.compile(r"[0-9]{1,10}-[0-9a-f]{1,64}\Z")


def _json_of(value: str, kind: type | None = None) -> bool:
    try:
        parsed = json.loads(value)
    except (ValueError, RecursionError):
        return False
    return kind is None or (isinstance(parsed, kind) and (kind is not list or all(isinstance(i, str) for i in parsed)))


PARAM_VALUES: dict[str, Any] = {
    **dict.fromkeys(
        ("include_docs", "conflicts", "descending", "attachments", "att_encoding_info", "update_seq", "revs",
         "revs_info", "latest", "inclusive_end", "new_edits"),
        lambda v: v in _BOOLEANS,
    ),
    **dict.fromkeys(("limit", "skip", "seq_interval"), lambda v: v.isdigit() and len(v) <= 9),
    **dict.fromkeys(("key", "startkey", "endkey", "start_key", "end_key"), _json_of),
    "keys": lambda v: _json_of(v, list),
    "atts_since": lambda v: _json_of(v, list),
    "open_revs": lambda v: v == "all" or _json_of(v, list),
    "rev": lambda v: bool(_REV.match(v)),
    "since": lambda v: bool(_SEQ.match(v)),
    "style": lambda v: v in ("main_only", "all_docs"),
}  # fmt: skip


def _param_ok(name: str, value: str) -> bool:
    check = PARAM_VALUES.get(name)
    return check is None or check(value)


def json_body() -> Any:
    if request.mimetype != "application/json":
        raise ApiError(
            415, "bad_content_type", "请求体必须是 application/json", "the request body must be application/json"
        )
    return parse(request.get_data() or b"null")


def relay(resp: Any) -> Response:
    """Stream an upstream response back as it arrives. A CouchDB failure is raised instead, for the
    app's error handler to say in our words (its raw reason names server paths)."""
    if resp.status_code >= 500:
        try:
            raise CouchError(resp.status_code, "upstream_error", resp.text)
        finally:
            resp.close()
    headers = {h: resp.headers[h] for h in PASS_HEADERS if h in resp.headers}

    def body() -> Iterator[bytes]:
        try:
            yield from resp.iter_content(chunk_size=64 * 1024)
        finally:
            resp.close()

    return Response(stream_with_context(body()), status=resp.status_code, headers=headers)


def forward(
    method: str, path: str, params: dict | None = None, body: bytes | None = None, content_type: str | None = None
) -> Response:
    headers = {"Accept": request.headers.get("Accept", "application/json")}
    if content_type:
        headers["Content-Type"] = content_type
    try:
        resp = upstream().request(method, path, params=params, body=body, headers=headers, stream=True)
    except CouchError as exc:
        raise ApiError(
            503, "unavailable", "数据库暂时不可用，请稍后重试", "the database is temporarily unavailable; retry later"
        ) from exc
    return relay(resp)


# -- routes -----------------------------------------------------------------------------------
@bp.route("/", methods=["GET"])
def root() -> Response:
    require_user()
    return Response(
        json.dumps({"couchdb": "Welcome", "vendor": {"name": "Fangpin sync gateway"}}), mimetype="application/json"
    )


@bp.route("/<path:_ignored>", methods=["GET", "HEAD", "POST", "PUT", "DELETE", "COPY"], strict_slashes=False)
def dispatch(_ignored: str) -> Response:
    user = require_user()
    segments = raw_segments()
    db, rest = segments[0], segments[1:]
    method = "GET" if request.method == "HEAD" else request.method  # werkzeug drops the body of HEAD
    reading = method == "GET" or (method == "POST" and rest[:1] in READ_POSTS)
    village = authorize_db(user, db, write=not reading)
    physical = "/" + quote(upstream().physical(db), safe="")
    g.sync_db, g.reading, g.sync_village, g.sync_user = db, reading, village, user.name

    if not rest:
        if method != "GET":
            raise forbidden("不能创建或删除数据库", "databases cannot be created or deleted through the gateway")
        return db_info(physical, db)
    head = rest[0]
    if head == "_changes" and method == "GET":
        return changes(physical, db)
    if head == "_revs_diff" and method == "POST" and len(rest) == 1:
        return revs_diff(physical)
    if head == "_bulk_get" and method == "POST" and len(rest) == 1:
        return bulk_get(physical)
    if head == "_all_docs" and method in ("GET", "POST") and len(rest) == 1:
        return all_docs(physical, method)
    if head == "_bulk_docs" and method == "POST" and len(rest) == 1:
        assert village is not None
        return bulk_docs(physical, user, village)
    if head == "_local" and len(rest) == 2 and method in ("GET", "PUT"):
        return local_doc(physical, user, rest[1], method)
    if not head.startswith("_"):
        if len(rest) == 1 and method == "GET":
            params = filtered_params(DOC_PARAMS)
            if foreign(head):
                raise not_found_doc(head)
            return forward("GET", physical + "/" + doc_path(head), params=params)
        if len(rest) == 1 and method == "PUT":
            assert village is not None
            return put_doc(physical, user, village, head)
        if len(rest) == 2 and method == "GET":
            if foreign(head):
                raise not_found_doc(head)
            resp = forward("GET", f"{physical}/{doc_path(head)}/{quote(rest[1], safe='')}")
            resp.headers["Content-Disposition"] = "attachment"  # never shown as a page (see app.protect)
            return resp
        if len(rest) == 2 and method == "PUT":
            assert village is not None
            return put_attachment(physical, user, village, head, rest[1])
    raise forbidden(
        f"同步网关不支持 {method} {'/'.join(rest)}",
        f"{method} {'/'.join(rest)} is not a replication endpoint the gateway allows",
    )


def read_json(method: str, path: str, params: dict | None = None, body: Any = None) -> Any:
    """A read whose answer the gateway filters before the tablet sees it."""
    return reading(lambda: upstream().call(method, path, params=params, body=body))


def reading(read: Callable[[], Any]) -> Any:
    """An upstream read, its refusals (4xx) answered to the tablet as such."""
    try:
        return read()
    except CouchError as exc:
        if exc.status >= 500 or isinstance(exc, CouchUnavailable):
            raise
        raise ApiError(exc.status, exc.error, "读取失败", f"read failed: {exc.reason}") from exc


def at_feed_end(db: str) -> Any:
    """The database's seq as this process's watch last saw it, for :class:`SharedReads` keys."""
    return reading(lambda: watcher().seq(db))


def json_response(payload: Any, status: int = 200) -> Response:
    # ASCII escapes: an id a tablet sent may hold a lone surrogate, which has no UTF-8 form
    return Response(json.dumps(payload), status=status, mimetype="application/json")


def as_asked(row: dict, asked_docs: bool) -> dict:
    """A row as the tablet asked for it: the gateway may have fetched the body only to know whose it is."""
    return row if asked_docs else {k: v for k, v in row.items() if k != "doc"}


def visible_changes(page: dict, asked_docs: bool = True) -> dict:
    rows = [as_asked(r, asked_docs) for r in page.get("results", []) if visible(r.get("id"), r.get("doc"))]
    return {**page, "results": rows}


def not_found_doc(doc_id: str) -> ApiError:
    return ApiError(404, "not_found", f"没有文档 {doc_id}", f"no document {doc_id}")


def all_docs(physical: str, method: str) -> Response:
    params, asked = with_docs(filtered_params(ALL_DOCS_PARAMS))
    body = json_body() if method == "POST" else None
    page = read_json(method, physical + "/_all_docs", params=params, body=body)
    rows = []
    for row in page.get("rows", []):
        doc_id = row.get("id") or row.get("key")
        if "error" in row:  # a key asked for that does not exist
            rows.append(row)
        elif visible(doc_id, row.get("doc")):
            rows.append(as_asked(row, asked))
        elif isinstance(body, dict) and "keys" in body and not hidden(doc_id):
            rows.append({"key": doc_id, "error": "not_found"})  # asked by id: as if it did not exist
    return json_response({**page, "rows": rows})


def bulk_get(physical: str) -> Response:
    """Design and ``_local`` docs are answered as not found, the rest goes upstream."""
    params = filtered_params(BULK_GET_PARAMS)
    body = json_body()
    if not isinstance(body, dict) or not isinstance(body.get("docs"), list):
        raise bad_request('请求体须为 {"docs": [...]}', 'the body must be {"docs": [...]}')
    wanted = [d for d in body["docs"] if isinstance(d, dict) and not hidden(d.get("id")) and not unstorable(d)]
    taken = {id(d) for d in wanted}
    refused = [_missing(d) for d in body["docs"] if id(d) not in taken]
    if wanted and not refused and g.get("sync_village") is None:
        return forward(
            "POST", physical + "/_bulk_get", params=params, body=json.dumps(body).encode(),
            content_type="application/json",
        )  # fmt: skip
    # (pouchdb-server never answers a _bulk_get of no docs) A village's tablets ask for the same
    # new revisions when they wake together: each is read upstream once (SharedReads).
    path, seq = physical + "/_bulk_get", at_feed_end(g.sync_db)
    try:
        rows = reading(lambda: shared_reads().bulk_get(upstream(), path, params, seq, wanted)) if wanted else []
    except ValueError:  # an answer not one row per doc: read as asked, not shared
        rows = read_json("POST", path, params=params, body={**body, "docs": wanted}).get("results", [])
    return json_response({"results": [_shown(r) for r in rows] + refused})


def _shown(result: Any) -> Any:
    """A _bulk_get result with every revision the caller may not see answered as not found."""
    if not isinstance(result, dict) or not isinstance(result.get("docs"), list):
        return result
    doc_id = result.get("id")
    docs = [
        d if not isinstance(d, dict) or "ok" not in d or visible(doc_id, d["ok"])
        else {"error": {"id": doc_id, "rev": (d["ok"] or {}).get("_rev"), "error": "not_found", "reason": "missing"}}
        for d in result["docs"]
    ]  # fmt: skip
    return {**result, "docs": docs}


def _missing(item: Any) -> dict:
    doc_id, rev = (item.get("id"), item.get("rev")) if isinstance(item, dict) else (None, None)
    return {"id": doc_id, "docs": [{"error": {"id": doc_id, "rev": rev, "error": "not_found", "reason": "missing"}}]}


def revs_diff(physical: str) -> Response:
    """Only submissions are a tablet's to push: for anything else it is told nothing is missing."""
    body = json_body()
    if not isinstance(body, dict):
        raise bad_request("请求体须为对象", "the body must be an object")
    wanted = {k: v for k, v in body.items() if not hidden(k) and not unstorable([k, v])}
    # An id CouchDB could not even be asked about is said to be missing, so the tablet sends the
    # doc and hears in _bulk_docs why it was refused (rather than failing the whole batch here).
    unasked = {k: {"missing": v} for k, v in body.items() if not hidden(k) and k not in wanted}
    if not wanted:
        return json_response(unasked)
    if not unasked and g.get("sync_village") is None:
        return forward(
            "POST", physical + "/_revs_diff", body=json.dumps(wanted).encode(), content_type="application/json"
        )
    answer = read_json("POST", physical + "/_revs_diff", body=wanted)
    # Which revisions of another worker's survey exist is theirs to know: where CouchDB has some of
    # what was asked (a tablet's own new pushes have none: no lookup then), the owner is checked.
    known = [k for k, revs in wanted.items() if k.startswith(OWNED) and (answer.get(k) or {}).get("missing") != revs]
    if known and g.get("sync_village") is not None:
        stored = upstream().get_many(g.sync_db, known)
        for k in known:
            if k in stored and not visible(k, stored[k]):
                answer[k] = {"missing": wanted[k]}
    return json_response({**answer, **unasked})


def local_doc(physical: str, user: User, local_id: str, method: str) -> Response:
    """A replication checkpoint, kept per user: ``_local/<id>`` is stored as
    ``_local/tablet.<user>.<id>``, so one tablet can neither read nor overwrite another's, and no
    tablet can reach a ``_local`` doc of the server's. The tablet sees only its own id."""
    if not REPLICATION_ID.match(local_id):
        raise forbidden(
            "只能读写同步检查点（PouchDB 复制 ID）",
            "only replication checkpoints (PouchDB replication ids) are allowed",
        )
    public, stored = f"_local/{local_id}", f"_local/tablet.{user.name}.{local_id}"
    path = physical + "/" + doc_path(stored)
    if method == "GET":
        return json_response({**read_json("GET", path), "_id": public})
    too_large = ApiError(413, "too_large", f"检查点过大（上限 {MAX_LOCAL_BYTES} 字节）",
                         f"checkpoint too large (the limit is {MAX_LOCAL_BYTES} bytes)")  # fmt: skip
    if request.content_length is not None and request.content_length > MAX_LOCAL_BYTES:
        raise too_large
    doc = json_body()
    if not isinstance(doc, dict):
        raise bad_request("检查点须为 JSON 对象", "a checkpoint must be a JSON object")
    if doc.get("_id", public) != public:
        raise bad_request("文档 _id 与路径不一致", "the document's _id does not match the URL")
    doc["_id"] = stored
    if len(json.dumps(doc).encode()) > MAX_LOCAL_BYTES:
        raise too_large
    return json_response({**read_json("PUT", path, body=doc), "id": public}, status=201)


def db_info(physical: str, db: str) -> Response:
    """Every replication starts with it; pouchdb-server walks the database's folder to answer,
    so it is read once per feed position (SharedReads)."""
    seq = at_feed_end(db)
    info = reading(lambda: shared_reads().get(upstream(), physical, {}, seq))
    return json_response({**info, "db_name": db})  # never reveal the deployment prefix


def bulk_docs(physical: str, user: User, village: str) -> Response:
    body = json_body()
    if not isinstance(body, dict) or not isinstance(body.get("docs"), list):
        raise bad_request('请求体须为 {"docs": [...]}', 'the body must be {"docs": [...]}')
    docs = body["docs"]
    new_edits = body.get("new_edits", True)
    ids = [d["_id"] for d in docs if isinstance(d, dict) and isinstance(d.get("_id"), str)]
    db = g.sync_db
    existing = upstream().get_many(db, [i for i in ids if i.startswith("submission:") and not unstorable(i)])
    allowed, denied = [], []
    for doc in docs:
        reason = write_denied(user, village, doc, existing.get(doc.get("_id")) if isinstance(doc, dict) else None)
        if reason:
            denied.append(reason.stub(doc.get("_id") if isinstance(doc, dict) else None))
        else:
            allowed.append(doc)
    results: list = []
    if allowed:
        payload: dict[str, Any] = {"docs": allowed}
        if new_edits is False:
            payload["new_edits"] = False
        try:
            results = raise_if_storage_full(upstream().call("POST", physical + "/_bulk_docs", body=payload))
        except CouchError as exc:
            if exc.status >= 500:
                raise  # the app's error handler logs it and answers 507 or 502
            raise ApiError(exc.status, exc.error, "写入失败", f"write failed: {exc.reason}") from exc
    return json_response(results + denied, status=201)


def put_doc(physical: str, user: User, village: str, doc_id: str) -> Response:
    doc = json_body()
    if isinstance(doc, dict):
        doc.setdefault("_id", doc_id)
    if not isinstance(doc, dict) or doc.get("_id") != doc_id:
        raise bad_request("文档 _id 与路径不一致", "the document's _id does not match the URL")
    existing = upstream().get(g.sync_db, doc_id)
    reason = write_denied(user, village, doc, existing)
    if reason:
        raise reason.exception()
    params = filtered_params({"rev", "new_edits"})
    return forward(
        "PUT",
        physical + "/" + doc_path(doc_id),
        params=params,
        body=json.dumps(doc).encode(),
        content_type="application/json",
    )


def put_attachment(physical: str, user: User, village: str, doc_id: str, name: str) -> Response:
    existing = upstream().get(g.sync_db, doc_id)
    if existing is None:
        raise forbidden(
            "只能给已存在的本人提交记录添加附件", "attachments can only be added to an existing submission of your own"
        )
    reason = write_denied(user, village, {**existing, "_id": doc_id}, existing)
    if reason:
        raise reason.exception()
    if request.mimetype.startswith("multipart/"):
        raise ApiError(415, "bad_content_type", "不支持 multipart 上传", "multipart uploads are not supported")
    return forward(
        "PUT",
        f"{physical}/{doc_path(doc_id)}/{quote(name, safe='')}",
        params=filtered_params({"rev"}),
        body=request.get_data(),
        content_type=request.content_type or "application/octet-stream",
    )


# -- _changes ---------------------------------------------------------------------------------
def changes(physical: str, db: str) -> Response:
    params = filtered_params(CHANGES_PARAMS)
    feed = params.pop("feed", "normal")
    if feed not in ("normal", "longpoll"):
        raise bad_request("只支持 feed=normal 或 longpoll", "only feed=normal or feed=longpoll is supported")
    heartbeat_ms = milliseconds(params.pop("heartbeat", None), "heartbeat")
    timeout_ms = milliseconds(params.pop("timeout", None), "timeout")
    params, asked = with_docs(params)
    if feed == "normal":
        return json_response(visible_changes(read_json("GET", physical + "/_changes", params=params), asked))
    wait_s = min(MAX_LONGPOLL_S, (timeout_ms or 60_000) / 1000.0)
    heartbeat_s = max(1.0, heartbeat_ms / 1000.0) if heartbeat_ms else None
    couch, seq_watch, pages = upstream(), watcher(), shared_reads()
    baseline = seq_watch.seq(db)  # taken before the first read: no change can slip between
    allowed = g.still_allowed
    nothing = json.dumps({"results": [], "last_seq": params.get("since", 0)}).encode()

    def body() -> Iterator[bytes]:
        seen, reading = baseline, dict(params)
        deadline = time.monotonic() + wait_s
        while True:
            page = pages.get(couch, physical + "/_changes", reading, seen)
            shown = visible_changes(page, asked)
            remaining = deadline - time.monotonic()
            if shown["results"] or remaining <= 0:
                # the caller may have been revoked or signed out while it waited: it gets nothing
                yield json.dumps(shown, ensure_ascii=False).encode() if allowed() else nothing
                return
            if page["results"]:
                # Only changes this caller may not see (a colleague's survey or review): wait on
                # past them, as CouchDB's filtered feed does, rather than wake the tablet for an
                # empty answer. Waking every tablet of the village for each survey pushed there
                # was half of the gateway's requests under 200 tablets.
                reading = {**reading, "since": seq_param(page["last_seq"])}
            if time.monotonic() - (deadline - wait_s) > RECHECK_S and not allowed():
                yield nothing
                return
            step = min(remaining, heartbeat_s or remaining, RECHECK_S)
            changed = seq_watch.wait_change(db, seen, step)
            if changed is None and heartbeat_s:
                yield b"\n"
            elif changed is not None:
                seen = changed

    return Response(stream_with_context(body()), mimetype="application/json")


def milliseconds(value: str | None, name: str) -> int:
    if value in (None, ""):
        return 0
    if not value.isdigit() or len(value) > 9:
        raise bad_request(
            f"参数 {name} 须为毫秒数（非负整数）", f"parameter {name} must be milliseconds (a whole number)"
        )
    return int(value)
