"""A township clerk's decisions on submissions: approve, reject, return and undo, one or many at once.

Each decision touches three things, written in this order and each idempotent, so a request
retried with the same key (a double click, a lost answer) completes what a first attempt left
half done and repeats nothing:

1. the ``review:<uuid>`` doc in the village database (state, history, the comment the grid worker
   reads offline) — the transition rules are the pure :func:`server.casework.review.clerk_action`;
2. the household record: an approved revision makes the tier less provisional, a rejected one
   stops feeding the record (:func:`server.households.model.record_decision`), and the tier is recomputed;
3. one audit entry per submission, keyed by the action, with the state before and after.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from server.access.accounts import User
from server.casework.policy import Policy
from server.casework.review import ActionRefused, clerk_action, last_clerk_decision, undo
from server.casework.tiers import retier
from server.households import model as households
from server.pipeline import household_store
from server.pipeline.readmodel import ReadModel
from server.validation.submission import local_today
from sync import audit, names
from sync.clock import utc_now
from sync.couch import Couch

MAX_BATCH = 500
Transform = Callable[[dict], dict | None]


@dataclass
class Outcome:
    id: str
    ok: bool
    state: str | None = None
    village_code: str | None = None
    already: bool = False  # this key had been applied before: nothing was written now
    error: str | None = None
    message: dict[str, str] | None = None

    def json(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


def act(
    admin: Couch,
    model: ReadModel,
    policy: Policy,
    user: User,
    villages: Iterable[str],
    ids: list[str],
    action: str,
    comment: str | None,
    key: str,
    seen: Mapping[str, str] | None = None,
) -> list[Outcome]:
    """Apply ``action`` to the submissions ``ids`` of the caller's ``villages``. ``seen`` names the
    submission revision each decision was made on: one that moved since is refused (``moved``), so
    an approval never lands on a revision the clerk did not see."""
    at = utc_now()
    seen = seen or {}
    return _run(
        admin, model, policy, user, villages, ids, key, f"submission.{action}",
        lambda review: clerk_action(review, action, user.name, at, key, comment,
                                    seen.get(names.doc_id_suffix(review["_id"]))),
    )  # fmt: skip


def undo_action(
    admin: Couch, model: ReadModel, policy: Policy, user: User, villages: Iterable[str], key: str
) -> list[Outcome]:
    """Take back the action ``key`` on every submission it changed (the caller's own actions only,
    unless an admin); a submission that moved on since is reported and left alone."""
    entries = [
        e for e in admin.iter_prefix(names.CASES, f"audit:{key}:") if e.get("action", "").startswith("submission.")
    ]
    if user.role != "admin":
        entries = [e for e in entries if e.get("actor") == user.name]
    if not entries:
        raise ActionRefused("not_found", "没有找到可撤销的操作", "no action of yours with that key to undo")
    ids = [names.doc_id_suffix(e["target"]) for e in entries]
    at = utc_now()
    return _run(
        admin, model, policy, user, villages, ids, f"undo-{key}", "submission.undo",
        lambda review: undo(review, key, user.name, at, f"undo-{key}"),
    )  # fmt: skip


def _run(
    admin: Couch,
    model: ReadModel,
    policy: Policy,
    user: User,
    villages: Iterable[str],
    ids: list[str],
    key: str,
    audit_action: str,
    transform: Transform,
) -> list[Outcome]:
    if user.role not in ("clerk", "admin"):
        raise ActionRefused("forbidden", "只有乡镇工作人员可以审核提交", "only township clerks can review submissions")
    if not 0 < len(ids) <= MAX_BATCH:
        raise ActionRefused(
            "batch_size", f"一次可处理 1 到 {MAX_BATCH} 条", f"act on 1 to {MAX_BATCH} submissions at once"
        )
    where = {row["id"]: row["village_code"] for row in model.review_rows(villages)}
    outcomes: dict[str, Outcome] = {}
    by_village: dict[str, list[str]] = {}
    for uuid in dict.fromkeys(ids):
        if uuid in where:
            by_village.setdefault(where[uuid], []).append(uuid)
        else:
            outcomes[uuid] = Outcome(
                uuid, False, error="not_found", message=_msg("没有找到该提交", "no such submission")
            )
    written: list[dict] = []
    settled: list[dict] = []  # every review this key has touched, written now or before
    for village, uuids in by_village.items():
        done, fresh = _write_reviews(admin, village, uuids, transform, outcomes)
        settled += done
        written += fresh
    records = _apply_to_households(admin, policy, settled, key)
    model.note_reviews(written)
    model.note_households(records)
    audit.record_many(
        admin,
        [
            {
                "key": key,  # the entry's id names the submission too (audit.keyed_id)
                "actor": user.name,
                "action": audit_action,
                "target": f"submission:{names.doc_id_suffix(r['_id'])}",
                "village_code": r["village_code"],
                "before": {"state": r["history"][-1]["from"]},
                "after": {"state": r["state"], "comment": r["history"][-1].get("comment")},
            }
            for r in written
        ],
    )
    return [outcomes[uuid] for uuid in dict.fromkeys(ids)]


def _write_reviews(
    admin: Couch, village: str, uuids: list[str], transform: Transform, outcomes: dict[str, Outcome]
) -> tuple[list[dict], list[dict]]:
    """Transform and write the reviews, again from a fresh read for those someone wrote meanwhile."""
    db = names.village_db(village)
    todo, settled, written = list(uuids), [], []
    for _ in range(5):
        current = admin.get_many(db, [f"review:{u}" for u in todo])
        batch: list[dict] = []
        for uuid in todo:
            review = current.get(f"review:{uuid}")
            if review is None:
                outcomes[uuid] = Outcome(uuid, False, village_code=village, error="not_found")
                continue
            try:
                changed = transform(review)
            except ActionRefused as exc:
                outcomes[uuid] = Outcome(
                    uuid, False, review.get("state"), village, error=exc.code, message=_msg(exc.zh, exc.en)
                )
                continue
            if changed is None:
                outcomes[uuid] = Outcome(uuid, True, review.get("state"), village, already=True)
                settled.append(review)
            else:
                batch.append(changed)
        retry = []
        for doc, result in zip(batch, admin.bulk_docs(db, batch), strict=True):
            uuid = names.doc_id_suffix(doc["_id"])
            if result.get("ok"):
                doc["_rev"] = result["rev"]
                outcomes[uuid] = Outcome(uuid, True, doc["state"], village)
                settled.append(doc)
                written.append(doc)
            elif result.get("error") == "conflict":
                retry.append(uuid)
            else:
                outcomes[uuid] = Outcome(uuid, False, village_code=village, error=result.get("error"))
        todo = retry
        if not todo:
            break
    for uuid in todo:
        outcomes[uuid] = Outcome(
            uuid, False, village_code=village, error="busy", message=_msg("记录正被更新，请重试", "busy; try again")
        )
    return settled, written


def _apply_to_households(admin: Couch, policy: Policy, reviews: list[dict], key: str) -> list[dict]:
    """Bring each household record's approvals and rejections in line with the reviews."""
    decisions: dict[str, list[tuple[str, str, str | None]]] = {}
    village_of: dict[str, str] = {}
    for review in reviews:
        linked = (review.get("household") or {}).get("id")
        household = household_store.resolve_id(admin, linked) if linked else None
        if household is None:
            continue  # never applied to a household (its envelope was unusable)
        decision = last_clerk_decision(review)
        village_of[review["submission_id"]] = review["village_code"]
        decisions.setdefault(household, []).append(
            (review["submission_id"], review["submission_rev"], decision if decision != "return" else None)
        )
    if not decisions:
        return []
    today, at = local_today(), utc_now()

    def change(records: dict[str, dict]) -> list[dict]:
        touched = []
        for hid, items in decisions.items():
            record = records.get(hid)
            if record is None:
                continue
            items = [i for i in items if record["village_code"] == village_of[i[0]]]  # never another village's
            if any([households.record_decision(record, *item) for item in items]):
                retier(record, policy, today, at, {"kind": "review", "key": key})
                touched.append(record)
        return touched

    return household_store.update(admin, sorted(decisions), change, only_changed=True)


def _msg(zh: str, en: str) -> dict[str, str]:
    return {"zh": zh, "en": en}
