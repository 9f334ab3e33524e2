"""The one place that speaks HTTP to CouchDB, built on the IBM Cloudant SDK.

Only the documented CouchDB 3 API is used, so the same calls work on Apache CouchDB, Cloudant
and the embedded pouchdb-server. Request bodies go through as JSON bytes rather than the SDK's
model classes: the worker and the gateway move documents they do not interpret, and copying them
through models would cost time and could drop fields. Gzip is off because pouchdb-server does not
cope with it.

Callers name databases by their logical name (``fp_forms``); the deployment prefix is added here.
"""

from __future__ import annotations

import functools
import json
import time
import urllib.request
from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import quote

import requests
from ibm_cloud_sdk_core.authenticators import BasicAuthenticator, NoAuthAuthenticator
from ibmcloudant.cloudant_v1 import CloudantV1
from requests.adapters import HTTPAdapter

from sync.settings import Credential

# How the servers name a full disk, in their own spelling (CouchDB 3.4's chttpd writes "insufficent").
STORAGE_FULL = ("no space left", "enospc", "insufficient_storage", "insufficent_storage")


class CouchError(Exception):
    """CouchDB answered with an error status."""

    def __init__(self, status: int, error: str, reason: str = "") -> None:
        super().__init__(f"{status} {error}: {reason}")
        self.status = status
        self.error = error
        self.reason = reason

    @property
    def missing_db(self) -> bool:
        """The database itself does not exist (pouchdb-server: ``no_db_file``)."""
        return self.status == 404 and self.reason in ("no_db_file", "Database does not exist.")

    @property
    def disk_full(self) -> bool:
        """CouchDB could not write because its disk is full.

        pouchdb-server says so in LevelDB's IO error. Apache CouchDB 3.4 says so only when its disk
        monitor is on (``[disk_monitor] enable = true``): 507, or per document in ``_bulk_docs``,
        as ``insufficent_storage`` (sic). Without the monitor a full disk is a bare
        ``internal_server_error`` (ENOSPC is in its log only), which cannot be told from any other.
        """
        text = f"{self.error} {self.reason}".lower()
        return self.status == 507 or (self.status >= 500 and any(m in text for m in STORAGE_FULL))


class CouchUnavailable(CouchError):
    """CouchDB could not be reached (not started yet, restarting, network)."""

    def __init__(self, reason: str) -> None:
        super().__init__(503, "unavailable", reason)


def seq_param(seq: Any) -> str:
    """A seq as a ``since`` parameter: CouchDB's opaque strings as they are, pouchdb's integers as JSON."""
    return seq if isinstance(seq, str) else json.dumps(seq)


def doc_path(doc_id: str) -> str:
    """URL path segment for a document id; ``_design/`` and ``_local/`` keep their slash."""
    for special in ("_design/", "_local/"):
        if doc_id.startswith(special):
            return special + quote(doc_id[len(special) :], safe="")
    return quote(doc_id, safe="")


class Couch:
    """A CouchDB server seen through one credential."""

    def __init__(self, url: str, credential: Credential | None, prefix: str = "", pool: int = 64) -> None:
        auth = BasicAuthenticator(credential.name, credential.password) if credential else NoAuthAuthenticator()
        self.url = url.rstrip("/")
        self.prefix = prefix
        self.credential = credential
        self.service = CloudantV1(authenticator=auth)
        self.service.set_service_url(self.url)
        self.service.set_enable_gzip_compression(False)
        session = self.service.get_http_client()
        # requests reads ~/.netrc and the proxy variables again on every request (py-spy found the
        # gateway doing it under load); read the proxies once, and credentials come from settings.
        session.trust_env = False
        # The Cloudant SDK's response hook rewrites error bodies and assumes each is an object: on
        # the JSON list Apache CouchDB answers _bulk_docs with on a full disk it raised
        # AttributeError. Errors are read here (see call()), in their own shape.
        session.hooks["response"] = [h for h in session.hooks["response"] if h.__name__ != "_error_response_hook"]
        session.proxies = urllib.request.getproxies()
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool)
        session.mount("http://", adapter)
        session.mount("https://", adapter)

    def physical(self, db: str) -> str:
        return self.prefix + db

    # -- raw access ------------------------------------------------------------------------
    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        stream: bool = False,
    ) -> requests.Response:
        """Send a request and return the raw response, error statuses included (for the gateway)."""
        req = self.service.prepare_request(method, path, headers=headers or {}, params=params, data=body)
        try:
            # The SDK prepares the request (URL, auth, headers) but the response is read here, error
            # statuses included: the SDK's own error parsing raised AttributeError on the JSON list
            # Apache CouchDB answers _bulk_docs with on a full disk. Streamed; callers that do not
            # stream read it whole at once.
            options = {"timeout": 60, **self.service.http_config, "stream": True}
            resp = self.service.http_client.request(**req, cookies=self.service.jar, **options)
        except requests.ConnectionError as exc:
            raise CouchUnavailable(str(exc)) from exc
        if resp.status_code == 204 or method == "HEAD":
            raise CouchError(204, "no_content", "use call() for requests without a body")
        if not stream:
            _ = resp.content
        return resp

    def call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: Any = None,
        ok_missing: bool = False,
    ) -> Any:
        """Send a JSON request and return the decoded body; raise CouchError on error statuses."""
        data = None if body is None else json.dumps(body, separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        resp = self.request(method, path, params=params, body=data, headers=headers)
        try:
            if resp.status_code == 404 and ok_missing:
                return None
            payload = resp.json() if resp.content else None
        finally:
            resp.close()
        if resp.status_code >= 400:
            err = payload if isinstance(payload, dict) else {}
            raise CouchError(resp.status_code, str(err.get("error", "error")), str(err.get("reason", "")))
        return payload

    # -- server and databases --------------------------------------------------------------
    def server_info(self) -> dict:
        return self.call("GET", "/")

    @functools.cached_property
    def is_pouchdb_server(self) -> bool:
        """The embedded default answers ``GET /`` with an ``express-pouchdb`` greeting."""
        return "express-pouchdb" in self.server_info()

    def all_dbs(self) -> list[str]:
        return self.call("GET", "/_all_dbs")

    def db_info(self, db: str) -> dict | None:
        return self.call("GET", f"/{self.physical(db)}", ok_missing=True)

    def create_db(self, db: str) -> bool:
        """Create a database; False if it already existed."""
        try:
            self.call("PUT", f"/{self.physical(db)}")
            return True
        except CouchError as exc:
            if exc.status == 412:
                return False
            raise

    def delete_db(self, db: str) -> None:
        self.call("DELETE", f"/{self.physical(db)}", ok_missing=True)

    def put_security(self, db: str, security: dict) -> None:
        self.call("PUT", f"/{self.physical(db)}/_security", body=security)

    # -- documents -------------------------------------------------------------------------
    def get(self, db: str, doc_id: str, **params: Any) -> dict | None:
        return self.call("GET", f"/{self.physical(db)}/{doc_path(doc_id)}", params=params, ok_missing=True)

    def put(self, db: str, doc: dict) -> str:
        res = self.call("PUT", f"/{self.physical(db)}/{doc_path(doc['_id'])}", body=doc)
        return res["rev"]

    def live_revisions(self, db: str, doc_id: str) -> list[dict]:
        """Every leaf revision of a doc that is not deleted (several when the doc is in conflict)."""
        leaves = self.call("GET", f"/{self.physical(db)}/{doc_path(doc_id)}", params={"open_revs": "all"})
        return [leaf["ok"] for leaf in leaves if isinstance(leaf.get("ok"), dict) and not leaf["ok"].get("_deleted")]

    def get_many(self, db: str, ids: Iterable[str]) -> dict[str, dict]:
        """Current winning revisions of the given ids that exist (deleted ones left out)."""
        keys = list(dict.fromkeys(ids))
        if not keys:
            return {}
        # _bulk_get rather than _all_docs?include_docs: same docs, 2-3x faster on pouchdb-server
        # (measured: 500 docs in 45 ms against 110 ms). A missing id answers an error on CouchDB
        # and an empty object on pouchdb-server; a deleted one, a tombstone.
        res = self.call("POST", f"/{self.physical(db)}/_bulk_get", body={"docs": [{"id": k} for k in keys]})
        found = {}
        for row in res["results"]:
            doc = (row.get("docs") or [{}])[0].get("ok")
            if doc and not doc.get("_deleted"):
                found[row["id"]] = doc
        return found

    def bulk_docs(self, db: str, docs: list[dict], new_edits: bool = True) -> list[dict]:
        """Write in bulk; results come back in input order whatever order the server used."""
        if not docs:
            return []
        body: dict[str, Any] = {"docs": docs}
        if not new_edits:
            body["new_edits"] = False
        res = raise_if_storage_full(self.call("POST", f"/{self.physical(db)}/_bulk_docs", body=body))
        by_id: dict[str, list[dict]] = {}
        for row in res:
            by_id.setdefault(row.get("id", ""), []).append(row)
        ordered = []
        for doc in docs:
            rows = by_id.get(doc.get("_id", ""), [])
            ordered.append(rows.pop(0) if rows else {"id": doc.get("_id"), "ok": True})
        return ordered

    def all_docs(
        self, db: str, start: str, end: str, *, include_docs: bool = True, limit: int | None = None
    ) -> list[dict]:
        params: dict[str, Any] = {
            "startkey": json.dumps(start),
            "endkey": json.dumps(end),
            "include_docs": include_docs,
        }
        if limit is not None:
            params["limit"] = limit
        return self.call("GET", f"/{self.physical(db)}/_all_docs", params=params)["rows"]

    def iter_prefix(self, db: str, prefix: str, page: int = 1000) -> Iterator[dict]:
        """Every document whose id starts with ``prefix``, in id order, paged."""
        start = prefix
        while True:
            rows = self.all_docs(db, start, prefix + "\ufff0", limit=page + 1)
            for row in rows[:page]:
                if row.get("doc"):
                    yield row["doc"]
            if len(rows) <= page:
                return
            start = rows[page]["id"]

    # -- feeds and checkpoints -------------------------------------------------------------
    def changes(self, db: str, since: Any, limit: int, include_docs: bool = True) -> dict:
        """One page of the normal feed. Seqs are opaque (strings on CouchDB, integers here)."""
        params: dict[str, Any] = {
            "since": seq_param(since),
            "limit": limit,
            "style": "all_docs",
        }
        if include_docs:
            params.update(include_docs=True, conflicts=True)
        return self.call("GET", f"/{self.physical(db)}/_changes", params=params)

    def latest_seq(self, db: str) -> Any:
        """The feed's current end (``since=now``): one row's worth of work, where ``GET /db``
        walks the database's folder on pouchdb-server to report its size."""
        return self.call("GET", f"/{self.physical(db)}/_changes", params={"since": "now"})["last_seq"]

    def wait_for_change(self, db: str, since: Any, timeout_s: float) -> Any | None:
        """Long-poll the feed: the seq of the first change after ``since``, or None after
        ``timeout_s``.

        pouchdb-server ignores ``timeout``, and with a heartbeat neither server ends the poll, so
        the body is read against a deadline of our own (heartbeats every 2 s keep the read
        moving) and the connection dropped, which cancels the poll on both.
        """
        params = {
            "feed": "longpoll",
            "since": seq_param(since),
            "limit": 1,
            "heartbeat": 2000,
        }
        deadline = time.monotonic() + timeout_s + 1.0
        resp = self.request("GET", f"/{self.physical(db)}/_changes", params=params, stream=True)
        try:
            if resp.status_code >= 400:
                err = resp.json() if resp.content else {}
                raise CouchError(resp.status_code, str(err.get("error", "error")), str(err.get("reason", "")))
            body = b""
            for chunk in resp.iter_content(chunk_size=None):
                body += chunk
                if time.monotonic() > deadline:
                    return None
        except requests.RequestException:
            # the read timed out between heartbeats, or the server went away mid-answer (a
            # restart): no change seen; the caller polls again (and hears of an outage then)
            return None
        finally:
            resp.close()
        page = json.loads(body) if body.strip() else {}
        return page.get("last_seq") if page.get("results") else None

    def get_local(self, db: str, name: str) -> dict | None:
        return self.get(db, f"_local/{name}")

    def put_local(self, db: str, name: str, body: dict, rev: str | None = None) -> str:
        """Write a ``_local`` doc; returns its new rev. With the rev the caller wrote last, one
        request instead of two (a stale rev costs the read after all)."""
        doc = dict(body, _id=f"_local/{name}")
        if rev is not None:
            try:
                return self.put(db, dict(doc, _rev=rev))
            except CouchError as exc:
                if exc.status != 409:
                    raise
        current = self.get_local(db, name)
        if current:
            doc["_rev"] = current["_rev"]
        return self.put(db, doc)

    # -- design docs and indexes ------------------------------------------------------------
    def ensure_design(self, db: str, ddoc: dict) -> bool:
        """Create or update a design doc when its content differs; True if it was written."""
        current = self.get(db, ddoc["_id"])
        if current:
            stripped = {k: v for k, v in current.items() if k != "_rev"}
            if stripped == ddoc:
                return False
            ddoc = dict(ddoc, _rev=current["_rev"])
        self.put(db, ddoc)
        return True

    def ensure_index(self, db: str, name: str, fields: list[str]) -> None:
        self.call(
            "POST",
            f"/{self.physical(db)}/_index",
            body={"index": {"fields": fields}, "name": name, "ddoc": f"idx-{name}", "type": "json"},
        )

    def find(
        self,
        db: str,
        selector: dict,
        *,
        limit: int = 1000,
        skip: int = 0,
        sort: list | None = None,
        use_index: str | None = None,
        fields: list[str] | None = None,
    ) -> list[dict]:
        body: dict[str, Any] = {"selector": selector, "limit": limit, "skip": skip}
        if fields:
            body["fields"] = fields
        if sort:
            body["sort"] = sort
        if use_index:
            body["use_index"] = f"idx-{use_index}"
        return self.call("POST", f"/{self.physical(db)}/_find", body=body)["docs"]

    # -- attachments -----------------------------------------------------------------------
    def put_attachment(self, db: str, doc_id: str, rev: str | None, name: str, data: bytes, content_type: str) -> str:
        params = {"rev": rev} if rev else None
        resp = self.request(
            "PUT",
            f"/{self.physical(db)}/{doc_path(doc_id)}/{quote(name, safe='')}",
            params=params,
            body=data,
            headers={"Content-Type": content_type},
        )
        payload = resp.json()
        if resp.status_code >= 400:
            raise CouchError(resp.status_code, payload.get("error", "error"), payload.get("reason", ""))
        return payload["rev"]

    def get_attachment(self, db: str, doc_id: str, name: str) -> bytes | None:
        resp = self.request("GET", f"/{self.physical(db)}/{doc_path(doc_id)}/{quote(name, safe='')}")
        if resp.status_code == 404:
            return None
        if resp.status_code >= 400:
            raise CouchError(resp.status_code, "error", resp.text[:200])
        return resp.content


def raise_if_storage_full(results: list[dict]) -> list[dict]:
    """``_bulk_docs`` results, or CouchError 507 when CouchDB refused documents for want of disk.

    CouchDB 3.4's disk monitor answers such a batch 201 with the refusal in each row: treated as
    rows, a caller would see one failed write per document and no reason to back off.
    """
    for row in results if isinstance(results, list) else []:
        if isinstance(row, dict) and str(row.get("error", "")).lower() in STORAGE_FULL:
            raise CouchError(507, "insufficient_storage", str(row.get("reason", "")))
    return results
