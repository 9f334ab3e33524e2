"""Database bootstrap (``fangpin init``): databases, security objects, design docs, indexes, forms.

Every step is idempotent, so ``serve`` runs it on each start. Security follows the architecture:
only the server's admin and the gateway's own CouchDB account can reach anything, and the
gateway's account may read ``fp_forms`` and read/write village databases only. The
``validate_doc_update`` functions repeat the gateway's write rules inside CouchDB as a second
line of defence: a device-originated write (made through the gateway account) may only touch a
``submission:`` doc of that village and may never delete one.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable

from forms import XForm, shipped_forms, version_key
from sync import names
from sync.clock import utc_now
from sync.couch import Couch, CouchError
from sync.embedded import Connection

ADMIN_ONLY = {"admins": {"names": [], "roles": []}, "members": {"names": [], "roles": ["_admin"]}}

VILLAGE_VDU = """function (newDoc, oldDoc, userCtx) {
  if (userCtx.roles.indexOf('_admin') !== -1) { return; }
  var village = %(village)s;
  function deny(en, zh) { throw({forbidden: zh + ' / ' + en}); }
  if (newDoc._id.indexOf('submission:') !== 0) {
    deny('devices may only write submission: documents', '设备只能写入 submission: 文档');
  }
  if (newDoc._deleted) { deny('submissions cannot be deleted', '提交记录不能删除'); }
  if (newDoc.type !== 'submission') { deny('type must be "submission"', 'type 必须为 "submission"'); }
  if (newDoc.village_code !== village) {
    deny('village_code must be ' + village, 'village_code 必须为 ' + village);
  }
  if (typeof newDoc.submitted_by !== 'string' || !newDoc.submitted_by) {
    deny('submitted_by is required', '缺少 submitted_by');
  }
  if (oldDoc && !oldDoc._deleted && oldDoc.submitted_by !== newDoc.submitted_by) {
    deny('a submission cannot change hands', '不能修改他人的提交记录');
  }
}"""

READ_ONLY_VDU = """function (newDoc, oldDoc, userCtx) {
  if (userCtx.roles.indexOf('_admin') === -1) {
    throw({forbidden: '此数据库只读 / this database is read-only'});
  }
}"""


def gateway_role(couch: Couch) -> str:
    return couch.prefix + names.GATEWAY_ROLE


def members(role: str) -> dict:
    return {"admins": {"names": [], "roles": []}, "members": {"names": [], "roles": [role]}}


def village_codes(admin: Couch) -> list[str]:
    return [doc["code"] for doc in admin.iter_prefix(names.ACCOUNTS, "village:")]


def ensure_gateway_user(conn: Connection) -> None:
    """The gateway's own non-admin CouchDB account, in ``_users`` (CouchDB 3 and pouchdb-server)."""
    cred = conn.gateway.credential
    assert cred is not None
    user_id = f"org.couchdb.user:{cred.name}"
    users = _get_user(conn.admin, user_id)
    role = gateway_role(conn.admin)
    if users and role in users.get("roles", []) and _can_login(conn.gateway):
        return
    doc = {"_id": user_id, "name": cred.name, "type": "user", "roles": [role], "password": cred.password}
    if users:
        doc["_rev"] = users["_rev"]
    conn.admin.call("PUT", f"/_users/{user_id}", body=doc)


def _get_user(admin: Couch, user_id: str) -> dict | None:
    # _users is a server database: no deployment prefix.
    return admin.call("GET", f"/_users/{user_id}", ok_missing=True)


def _can_login(couch: Couch) -> bool:
    try:
        session = couch.call("GET", "/_session")
    except CouchError:
        return False
    return (session.get("userCtx") or {}).get("name") == couch.credential.name  # type: ignore[union-attr]


def ensure_village_db(conn: Connection, code: str) -> None:
    db = names.village_db(code)
    conn.admin.create_db(db)
    conn.admin.put_security(db, members(gateway_role(conn.admin)))
    ddoc = {"_id": "_design/fangpin", "language": "javascript", "validate_doc_update": village_vdu(code)}
    if conn.admin.is_pouchdb_server:
        # pouchdb-server's validation plugin replaces a replicated revision's history with the
        # stored one, so with any validate_doc_update every replicated edit of an existing doc is
        # answered ok and silently dropped (measured; a tablet's edited submission would vanish).
        # The gateway's rules are the only line there; CouchDB and Cloudant get both.
        _remove_design(conn.admin, db, ddoc["_id"])
    else:
        conn.admin.ensure_design(db, ddoc)
    conn.admin.ensure_index(db, "type-state", ["type", "state"])


def village_vdu(code: str) -> str:
    return VILLAGE_VDU % {"village": json.dumps(code)}


def _remove_design(admin: Couch, db: str, ddoc_id: str) -> None:
    current = admin.get(db, ddoc_id)
    if current:
        admin.bulk_docs(db, [{"_id": ddoc_id, "_rev": current["_rev"], "_deleted": True}])


def publish_form(admin: Couch, form: XForm) -> bool:
    """Publish one form version beside the older ones; True if new.

    A version string is never reused for other content, and a new version must come after every
    published one (tablets and ODK Collect take the newest; submissions of older versions are still
    validated against their own version, which stays published).
    """
    current = admin.get(names.FORMS, form.doc_id)
    if current:
        if current.get("hash") != form.md5:
            raise ValueError(
                f"表单 {form.form_id} 的版本 {form.version} 已发布且内容不同，请使用新的版本号 / "
                f"form {form.form_id} version {form.version} is already published with other content; "
                "give it a new version"
            )
        return False
    published = [d["version"] for d in admin.iter_prefix(names.FORMS, f"form:{form.form_id}:")]
    newest = max(published, key=version_key, default=None)
    if newest is not None and version_key(form.version) <= version_key(newest):
        raise ValueError(
            f"表单 {form.form_id} 的新版本号 {form.version} 须大于已发布的最新版本 {newest} / "
            f"form {form.form_id}: the new version {form.version} must come after the newest published {newest}"
        )
    admin.put(
        names.FORMS,
        {
            "_id": form.doc_id,
            "type": "form",
            "form_id": form.form_id,
            "version": form.version,
            "title": form.title,
            "hash": form.md5,
            "published_at": utc_now(),
            "_attachments": {
                "xform.xml": {"content_type": "application/xml", "data": base64.b64encode(form.xml).decode()}
            },
        },
    )
    return True


def published_forms(admin: Couch) -> list[dict]:
    return list(admin.iter_prefix(names.FORMS, "form:"))


def init(conn: Connection, forms: Iterable[XForm] | None = None) -> dict:
    """Bring a CouchDB server to the layout Fangpin expects; returns what it did."""
    admin = conn.admin
    created = [db for db in (names.FORMS, names.CASES, names.ACCOUNTS) if admin.create_db(db)]
    ensure_gateway_user(conn)
    admin.put_security(names.FORMS, members(gateway_role(admin)))
    admin.put_security(names.CASES, ADMIN_ONLY)
    admin.put_security(names.ACCOUNTS, ADMIN_ONLY)
    forms_ddoc = {"_id": "_design/fangpin", "language": "javascript", "validate_doc_update": READ_ONLY_VDU}
    if admin.is_pouchdb_server:
        _remove_design(admin, names.FORMS, forms_ddoc["_id"])  # see ensure_village_db
    else:
        admin.ensure_design(names.FORMS, forms_ddoc)
    admin.ensure_index(names.CASES, "type-village", ["type", "village_code"])
    admin.ensure_index(names.CASES, "type-target", ["type", "target"])
    admin.ensure_index(names.ACCOUNTS, "type", ["type"])
    villages = village_codes(admin)
    for code in villages:
        ensure_village_db(conn, code)
    published = [f.doc_id for f in (forms if forms is not None else shipped_forms()) if publish_form(admin, f)]
    notes = [DISK_MONITOR_OFF] if disk_monitor_off(admin) else []
    return {"created": created, "villages": villages, "published": published, "notes": notes}


DISK_MONITOR_OFF = (
    "提示：CouchDB 的磁盘监控未开启，磁盘满时设备只会收到 502 / note: CouchDB's disk monitor is off "
    "([disk_monitor] enable = true in its local.ini): on a full disk it answers only internal_server_error, "
    "so tablets are told 502 instead of 507 insufficient_storage"
)


def disk_monitor_off(admin: Couch) -> bool:
    """Apache CouchDB 3.4+ names a full disk (507) only with its disk monitor on. pouchdb-server and
    Cloudant have no such setting (Cloudant's node configuration is not readable): not reported."""
    if admin.is_pouchdb_server:
        return False
    try:
        section = admin.call("GET", "/_node/_local/_config/disk_monitor")
    except CouchError:
        return False
    return isinstance(section, dict) and str(section.get("enable", "false")).lower() != "true"
