"""What the clerk screens list and count, held in memory per web process and followed from ``_changes``.

A township after a disaster has tens of thousands of households and twice as many submissions;
the queue filters and pages them on every keypress and the dashboard counts them on every visit.
Mango queries cannot carry that on the embedded server (pouchdb-server builds an index at about
4 ms a document on the first query after a load), so each web process keeps a small projection
of every ``review:`` doc (village databases) and every household record (``fp_cases``) and brings
it up to date from each database's changes feed at most every :data:`FRESH_S` seconds, before it
answers. A process's own writes are noted at once, so a clerk sees the result of an action on
the next page. The same code runs on Apache CouchDB and Cloudant: it uses only ``_changes``.

Nothing here carries ID numbers, phones or health data: only what lists and counts need (and a
masked phone for the survey's prefill).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from server.casework import identification, privacy
from server.households import model as households
from sync import names
from sync.couch import Couch, CouchError

log = logging.getLogger("fangpin.readmodel")

FRESH_S = 1.0
PAGE = 2000
MEMO_SIZE = 64
T = TypeVar("T")


def review_row(doc: Mapping[str, Any]) -> dict:
    issues = doc.get("issues") or []
    household = doc.get("household") or {}
    return {
        "id": names.doc_id_suffix(doc["_id"]),
        "village_code": doc.get("village_code"),
        "form_id": doc.get("form_id"),
        "form_version": doc.get("form_version"),
        "household_id": household.get("id") or doc.get("household_id"),
        "submitted_by": doc.get("submitted_by"),
        "device_id": doc.get("device_id"),
        "state": doc.get("state"),
        "submission_rev": doc.get("submission_rev"),
        "completed_at": doc.get("completed_at"),
        "received_at": doc.get("received_at"),
        "received_day": local_day(doc.get("received_at")),
        "updated_at": doc.get("updated_at"),
        "errors": sum(1 for i in issues if i.get("severity") == "error"),
        "warnings": sum(1 for i in issues if i.get("severity") != "error"),
        "conflict": household.get("conflict"),
        "revision_conflicts": len(doc.get("revision_conflicts") or []),
    }


def household_row(doc: Mapping[str, Any]) -> dict:
    tier = doc.get("tier") or {}
    props = doc.get("properties") or {}
    return {
        "id": doc["household_id"],
        "village_code": doc.get("village_code"),
        "head_name": props.get("head_name"),
        "category": props.get("category"),
        "size": len(props["members"]) if isinstance(props.get("members"), list) else None,
        "version": doc.get("version"),
        "conflict": doc.get("conflict"),
        "duplicates": sum(1 for d in doc.get("duplicates") or [] if d.get("status") == "open"),
        "tier": tier.get("tier"),
        "rules": [r["id"] for r in tier.get("rules") or []],
        "deadline": tier.get("deadline"),
        "flagged_on": tier.get("flagged_on"),
        "provisional": tier.get("provisional", True),
        "latlon": parse_geopoint(props.get("location")),
        "facts": queue_facts(props),
        "prefill": prefill(props),
        "members_prefill": members_prefill(props),
        **_identification(doc),
    }


# What the review queue shows of a household beside each submission (the facts a clerk decides
# on, issue 19): the damage and the household's size and income; never an ID number or health.
QUEUE_FACTS = ("house_damage", "deaths", "missing", "injured_serious", "direct_loss_yuan", "relocated",
               "water_cut_days", "crop_loss_band", "income_wage", "income_business", "income_property",
               "income_transfer", "cost_business")  # fmt: skip


def queue_facts(props: Mapping[str, Any]) -> dict[str, Any]:
    out = {
        k: props[k]
        for k in QUEUE_FACTS
        if isinstance(props.get(k), str | int | float) and not isinstance(props[k], bool)
    }
    members = props.get("members")
    out["size"] = len(members) if isinstance(members, list) else None
    return out


# What a household survey shows for confirmation instead of asking again (form media, release
# 2026120105): the household's conditions and incomes, the phone masked; never an ID number or health.
PREFILL = ("housing_grade", "water_quantity_ok", "water_quality_ok", "water_access_ok", "income_wage",
           "income_business", "income_property", "income_transfer", "cost_business", "expense_medical_oop",
           "expense_education", "last_year_income", "water_outage_days")  # fmt: skip


# Each member as the household survey shows it again (never an ID number, health or disability).
MEMBER_PREFILL = ("name", "sex", "relation", "birth_date", "labour", "school", "medical_insurance")


def members_prefill(props: Mapping[str, Any]) -> list[dict[str, Any]]:
    members = props.get("members")
    if not isinstance(members, list):
        return []
    return [
        {k: v for k in MEMBER_PREFILL if isinstance(v := m.get(k), str) and v} for m in members if isinstance(m, dict)
    ]


def prefill(props: Mapping[str, Any]) -> dict[str, Any]:
    out = {
        k: props[k] for k in PREFILL if isinstance(props.get(k), (str, int, float)) and not isinstance(props[k], bool)
    }
    if isinstance(props.get("phone"), str) and props["phone"]:
        out["phone_masked"] = privacy.mask_phone(props["phone"])
    return out


def _identification(doc: Mapping[str, Any]) -> dict:
    ident = identification.current(doc)
    day = households.facts_day(doc)  # the latest survey: a medium tier's follow-up visit, once after the flag
    flagged = (doc.get("tier") or {}).get("flagged_on")
    visited = bool(day and flagged and day > flagged)
    if ident is None:
        return {"identification": None, "ident_kind": None, "ident_due": None, "ident_overdue_after": None,
                "publicity_start": None, "provisional_inclusion": False, "followed_up": visited}  # fmt: skip
    return {
        "identification": ident["step"],
        "ident_kind": ident.get("kind", "identification"),
        "ident_due": identification.due(ident),
        "ident_overdue_after": identification.due(ident) if identification.clock_runs(ident) else None,
        "publicity_start": ident.get(
            "elimination_notice" if ident["step"] == "elimination_reviewed" else "publicity_start"
        ),
        "provisional_inclusion": bool(ident.get("provisional")),
        "followed_up": visited,
    }


@dataclass
class _Feed:
    since: Any = 0
    checked: float = -1e9
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass
class ReadModel:
    """Reviews per village and household rows, kept current from the changes feeds."""

    admin: Couch
    reviews: dict[str, dict[str, dict]] = field(default_factory=dict)  # village -> uuid -> row
    households: dict[str, dict] = field(default_factory=dict)  # household id -> row (not merged ones)
    version: int = 0  # bumped by every change noted: what :meth:`memo` keys on
    _feeds: dict[str, _Feed] = field(default_factory=dict)
    _memo: OrderedDict = field(default_factory=OrderedDict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # -- reading -------------------------------------------------------------------------------
    def refresh(self, villages: Iterable[str]) -> None:
        """Catch up with the village databases' and the case database's feeds (at most once a
        second), several feeds at a time: a township has dozens of village databases."""
        feeds = [(names.village_db(v), self._note_review_doc) for v in villages] + [(names.CASES, self._note_case_doc)]
        now = time.monotonic()
        stale = [(db, note) for db, note in feeds if db not in self._feeds or now - self._feeds[db].checked >= FRESH_S]
        if len(stale) <= 1:
            for db, note in stale:
                self._follow(db, note)
            return
        with ThreadPoolExecutor(max_workers=min(8, len(stale)), thread_name_prefix="readmodel") as pool:
            for done in [pool.submit(self._follow, db, note) for db, note in stale]:
                done.result()

    def warm_up(self, villages: Callable[[], Iterable[str]]) -> threading.Thread:
        """Read everything in on a background thread, so that after a restart the first clerk does
        not wait for it (measured: ~13 s for 50,000 households and 100,000 submissions)."""

        def run() -> None:
            try:
                self.refresh(villages())
            except Exception:  # the first request will try again; a warm-up must never kill a worker
                log.exception("read model warm-up failed")

        thread = threading.Thread(target=run, name="readmodel-warm-up", daemon=True)
        thread.start()
        return thread

    def memo(self, key: Hashable, compute: Callable[[], T]) -> T:
        """``compute()`` once per version of the model: a dashboard or a filtered queue is counted
        again only when something changed. ``key`` must hold everything else the result depends on."""
        with self._lock:
            full = (key, self.version)
            if full in self._memo:
                self._memo.move_to_end(full)
                return self._memo[full]
        value = compute()
        with self._lock:
            self._memo[full] = value
            while len(self._memo) > MEMO_SIZE:
                self._memo.popitem(last=False)
        return value

    def review_rows(self, villages: Iterable[str]) -> list[dict]:
        villages = list(villages)
        for village in villages:
            self._follow(names.village_db(village), self._note_review_doc)
        with self._lock:
            return [row for v in villages for row in self.reviews.get(v, {}).values()]

    def find_review(self, uuid: str, villages: Iterable[str]) -> dict | None:
        """One review row; a miss catches up with the feeds at once (a link to what arrived a moment ago)."""
        villages = list(villages)
        for fresh in (False, True):
            for village in villages:
                self._follow(names.village_db(village), self._note_review_doc, force=fresh)
            with self._lock:
                found = next((self.reviews[v][uuid] for v in villages if uuid in self.reviews.get(v, {})), None)
            if found is not None:
                return found
        return None

    def household_rows(self, villages: Iterable[str]) -> list[dict]:
        wanted = set(villages)
        self._follow(names.CASES, self._note_case_doc)
        with self._lock:
            return [row for row in self.households.values() if row["village_code"] in wanted]

    def head_names(self, household_ids: Iterable[str | None]) -> dict[str, str | None]:
        return {h: row.get("head_name") for h, row in self.households_by_id(household_ids).items()}

    def households_by_id(self, household_ids: Iterable[str | None]) -> dict[str, dict]:
        """The household rows of these ids (those known), for lists that show them beside submissions."""
        self._follow(names.CASES, self._note_case_doc)
        with self._lock:
            return {h: self.households[h] for h in household_ids if h and h in self.households}

    # -- a process's own writes ------------------------------------------------------------------
    def note_reviews(self, docs: Iterable[Mapping[str, Any]]) -> None:
        for doc in docs:
            self._note_review_doc(doc)

    def note_households(self, records: Iterable[Mapping[str, Any]]) -> None:
        for record in records:
            self._note_case_doc(record)

    # -- following ----------------------------------------------------------------------------
    def _follow(self, db: str, note, force: bool = False) -> None:
        with self._lock:
            feed = self._feeds.setdefault(db, _Feed())
        started = time.monotonic()
        if not force and started - feed.checked < FRESH_S:
            return
        with feed.lock:  # one reader per feed catches up; the others wait for it and find it fresh
            if feed.checked >= started or (not force and time.monotonic() - feed.checked < FRESH_S):
                return
            since = feed.since
            while True:
                try:
                    page = self.admin.changes(db, since, PAGE, include_docs=True)
                except CouchError as exc:
                    if exc.status == 404:  # a village registered but its database not made yet
                        break
                    raise
                for row in page["results"]:
                    if row.get("doc") and not row.get("deleted"):
                        note(row["doc"])
                since = page["last_seq"]
                if len(page["results"]) < PAGE:
                    break
            feed.since, feed.checked = since, time.monotonic()

    def _note_review_doc(self, doc: Mapping[str, Any]) -> None:
        if doc.get("type") != "review" or not names.is_village_code(doc.get("village_code") or ""):
            return
        row = review_row(doc)
        with self._lock:
            current = self.reviews.setdefault(doc["village_code"], {}).get(row["id"])
            if current is None or (row["updated_at"] or "") >= (current["updated_at"] or ""):
                self.reviews[doc["village_code"]][row["id"]] = row
                self.version += 1

    def _note_case_doc(self, doc: Mapping[str, Any]) -> None:
        if doc.get("type") != "household":
            return
        with self._lock:
            if doc.get("merged_into"):
                self.households.pop(doc["household_id"], None)
            else:
                self.households[doc["household_id"]] = household_row(doc)
            self.version += 1


def parse_geopoint(value: Any) -> tuple[float, float] | None:
    """ODK geopoint ``"lat lon [alt [accuracy]]"``."""
    if not isinstance(value, str):
        return None
    parts = value.split()
    try:
        lat, lon = float(parts[0]), float(parts[1])
    except (IndexError, ValueError):
        return None
    return (lat, lon) if -90 <= lat <= 90 and -180 <= lon <= 180 else None


def local_day(stamp: Any) -> str | None:
    """A UTC ISO time as the Beijing day (UTC+8), the day a clerk would say it arrived."""
    if not isinstance(stamp, str):
        return None
    try:
        moment = dt.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return (moment.astimezone(dt.timezone(dt.timedelta(hours=8)))).date().isoformat()
