"""The ``review:<uuid>`` document: the server's verdict on one submission, kept beside it.

Pure functions only. The worker calls :func:`review_for` with a submission revision and the
review written so far; it returns the review to write, or None when this revision was already
reviewed. Keying the work on the submission revision is what makes the worker idempotent: a
crash between writing reviews and saving the checkpoint repeats the batch and writes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from server.refusals import BilingualError
from server.validation import has_errors
from server.validation.rules import Context
from server.validation.submission import Catalog, local_today, validate_submission
from sync import names

# Review states (domain.md, Workflow). Clerk actions set approved/rejected/returned.
STATES = ("received", "has_issues", "approved", "rejected", "returned", "edited")


def next_state(previous: str | None, blocking: bool) -> str:
    """State after a new submission revision was checked."""
    if blocking:
        return "has_issues"
    if previous in ("returned", "edited", "approved", "rejected"):
        # A device changed a submission a clerk had already handled: it needs a fresh look.
        return "edited"
    return "received"


def check(submission: Mapping[str, Any], village: str, catalog: Catalog, context: Context | None = None) -> list[dict]:
    """Validate a submission with what the worker knows (its household, other households' IDs)."""
    if context is None:
        household = submission.get("household_id") if isinstance(submission.get("household_id"), str) else None
        context = Context(today=local_today(), household_id=household)
    return validate_submission(submission, village, catalog, context)


def contributes(submission: Mapping[str, Any], issues: list[dict], existing: Mapping[str, Any] | None) -> bool:
    """Does this revision feed its household record? Not if it cannot be placed, nor if a clerk
    rejected this very revision (a device's correction of a rejected survey does feed it)."""
    unusable = any(i["severity"] == "error" and i["code"].startswith(("envelope.", "form.")) for i in issues)
    rejected = bool(existing) and existing.get("state") == "rejected"
    return not unusable and not (rejected and existing.get("submission_rev") == submission.get("_rev"))


def review_for(
    submission: Mapping[str, Any],
    existing: Mapping[str, Any] | None,
    village: str,
    issues: list[dict],
    now: str,
    household: Mapping[str, Any] | None = None,
    revision_conflicts: list[dict] | None = None,
) -> dict | None:
    """The review to write for this submission revision, or None if it was reviewed already.

    ``household`` says which household record the revision was applied to (and how it was
    found); ``revision_conflicts`` lists the losing revisions archived when CouchDB held several.
    """
    rev = submission["_rev"]
    known = {c["rev"] for c in existing.get("revision_conflicts", [])} if existing else set()
    new_conflicts = [c for c in revision_conflicts or [] if c["rev"] not in known]
    if existing and existing.get("submission_rev") == rev:
        if not new_conflicts:
            return None
        entry = {"at": now, "by": "worker", "action": "revision_conflict", "revs": [c["rev"] for c in new_conflicts]}
        return {
            **existing,
            "revision_conflicts": [*existing.get("revision_conflicts", []), *new_conflicts],
            "history": [*existing.get("history", []), entry],
            "updated_at": now,
        }
    codes = {i["code"] for i in issues}
    previous = existing.get("state") if existing else None
    state = next_state(previous, has_errors(issues))
    entry = {"at": now, "by": "worker", "action": "checked", "submission_rev": rev, "state": state, "from": previous}
    review: dict[str, Any] = {
        "_id": names.review_id(submission["_id"]),
        "type": "review",
        "submission_id": submission["_id"],
        "submission_rev": rev,
        "village_code": village,
        "form_id": _text(submission.get("form_id")),
        "form_version": _text(submission.get("form_version")),
        "household_id": _text(submission.get("household_id")),
        "submitted_by": _text(submission.get("submitted_by")),
        "device_id": _text(submission.get("device_id")),
        "completed_at": _text(submission.get("completed_at")),
        "state": state,
        "checks": {
            "form_known": "form.unknown" not in codes and "form_id" not in _missing(issues),
            "version_known": not codes & {"form.unknown", "form.version_unknown"}
            and "form_version" not in _missing(issues),
            "envelope_complete": not any(c.startswith("envelope.") for c in codes),
        },
        "issues": issues,
        "household": dict(household) if household else (existing.get("household") if existing else None),
        "revision_conflicts": [*(existing.get("revision_conflicts", []) if existing else []), *new_conflicts],
        "comments": list(existing.get("comments", [])) if existing else [],
        "history": [*(existing.get("history", []) if existing else []), entry],
        "received_at": existing.get("received_at", now) if existing else now,
        "updated_at": now,
    }
    if existing:
        review["_rev"] = existing["_rev"]
    return review


def _missing(issues: list[dict]) -> set[str]:
    return {i["path"] for i in issues if i["code"] == "envelope.missing"}


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def revalidated(
    submission: Mapping[str, Any], existing: Mapping[str, Any], issues: list[dict], now: str
) -> dict | None:
    """The review after checking an already reviewed revision again (rules or forms changed).

    None when nothing changed. A clerk's decision (approved, rejected, returned) is kept; only the
    issues are brought up to date, and the change is recorded in the history.
    """
    if issues == existing.get("issues"):
        return None
    state = existing.get("state")
    if state in ("received", "has_issues", None):
        state = "has_issues" if has_errors(issues) else "received"
    elif state == "edited" and has_errors(issues):
        state = "has_issues"
    entry = {
        "at": now,
        "by": "revalidate",
        "action": "revalidated",
        "submission_rev": submission["_rev"],
        "state": state,
        "from": existing.get("state"),
    }
    return {
        **existing,
        "issues": issues,
        "state": state,
        "updated_at": now,
        "history": [*existing.get("history", []), entry],
    }


# -- clerk actions ---------------------------------------------------------------------------------
# What a township clerk may do to a review, the state it leads to, and the states it may start from.
# Approval needs a submission without errors (domain.md: "errors block approval"); rejecting or
# returning needs a comment, because the grid worker reads it offline on the tablet.
CLERK_ACTIONS: dict[str, dict[str, Any]] = {
    "approve": {"state": "approved", "from": ("received", "has_issues", "edited"), "comment": False},
    "reject": {"state": "rejected", "from": ("received", "has_issues", "edited", "approved"), "comment": True},
    "return": {"state": "returned", "from": ("received", "has_issues", "edited", "approved"), "comment": True},
}
STATE_NAMES = {
    "received": ("待审核", "pending"),
    "has_issues": ("有问题", "has issues"),
    "approved": ("已通过", "approved"),
    "rejected": ("已拒绝", "rejected"),
    "returned": ("已退回", "returned"),
    "edited": ("已修改待审", "edited"),
}
TODO = ("received", "has_issues", "edited")  # what still needs a clerk: the queue's default, the dashboard's 待处理
MAX_COMMENT = 2000


class ActionRefused(BilingualError):
    """A clerk action that cannot apply to this review."""

    def __init__(self, code: str, zh: str, en: str) -> None:
        super().__init__(zh, en)
        self.code = code


def has_action(review: Mapping[str, Any], key: str) -> bool:
    return any(entry.get("key") == key for entry in review.get("history", []))


def clerk_action(
    review: Mapping[str, Any],
    action: str,
    by: str,
    at: str,
    key: str,
    comment: str | None = None,
    seen_rev: str | None = None,
) -> dict | None:
    """The review after a clerk's ``action``; None when the action with this ``key`` was applied already.

    Raises :class:`ActionRefused` when the action does not fit the review's state. The history
    entry keeps the state before, so the action can be undone; a comment goes to ``comments``,
    which tablets show the grid worker.
    """
    if has_action(review, key):
        return None
    if seen_rev is not None and seen_rev != review.get("submission_rev"):
        raise ActionRefused(
            "moved",
            "网格员在您查看之后提交了新的版本，请重新打开查看后再处理",
            "the grid worker sent a new revision after you opened it; open it again before deciding",
        )
    rule = CLERK_ACTIONS.get(action)
    if rule is None:
        raise ActionRefused(
            "unknown_action",
            f"未知操作 {action}（可用：approve、reject、return）",
            f"unknown action {action} (use approve, reject or return)",
        )
    state = review.get("state")
    if state not in rule["from"]:
        zh, en = STATE_NAMES.get(state or "", (str(state), str(state)))
        raise ActionRefused(
            "wrong_state", f"当前状态为“{zh}”，不能执行此操作", f"the submission is {en}; {action} does not apply"
        )
    text = (comment or "").strip()
    if rule["comment"] and not text:
        raise ActionRefused(
            "comment_required", "拒绝或退回必须填写意见，网格员会在平板上看到", "rejecting or returning needs a comment"
        )
    if len(text) > MAX_COMMENT:
        raise ActionRefused(
            "comment_too_long", f"意见不能超过 {MAX_COMMENT} 字", f"a comment may have at most {MAX_COMMENT} characters"
        )
    if action == "approve" and has_errors(review.get("issues", [])):
        raise ActionRefused(
            "has_errors",
            "存在错误的记录不能通过：请退回网格员修改",
            "a submission with errors cannot be approved; return it",
        )
    entry = {
        "at": at,
        "by": by,
        "action": action,
        "key": key,
        "submission_rev": review.get("submission_rev"),
        "state": rule["state"],
        "from": state,
    }
    comments = list(review.get("comments", []))
    if text:
        entry["comment"] = text
        comments.append(
            {
                "at": at,
                "by": by,
                "action": action,
                "key": key,
                "text": text,
                "submission_rev": review.get("submission_rev"),
            }
        )
    return {
        **review,
        "state": rule["state"],
        "comments": comments,
        "history": [*review.get("history", []), entry],
        "updated_at": at,
    }


def undo(review: Mapping[str, Any], undone_key: str, by: str, at: str, key: str) -> dict | None:
    """The review with the clerk action ``undone_key`` taken back (None if this undo was done already).

    Only the latest thing that happened to the review can be undone: once the worker or another
    clerk has moved it on, undoing would overwrite their work, so it is refused. The undo is
    itself a history entry; the comment of an undone return stays in ``comments``, marked withdrawn.
    """
    if has_action(review, key):
        return None
    history = list(review.get("history", []))
    target = next((e for e in history if e.get("key") == undone_key), None)
    if target is None or target.get("action") not in CLERK_ACTIONS:
        raise ActionRefused("not_found", "没有找到要撤销的操作", "no such action to undo")
    if history[-1] is not target or review.get("submission_rev") != target.get("submission_rev"):
        raise ActionRefused(
            "moved_on",
            "该记录之后又有变动（新的修改或其他人的操作），不能撤销",
            "the submission changed after that action (a new revision or someone else's action); it cannot be undone",
        )
    comments = [{**c, "withdrawn": True} if c.get("key") == undone_key else c for c in review.get("comments", [])]
    entry = {
        "at": at,
        "by": by,
        "action": "undo",
        "key": key,
        "undoes": undone_key,
        "submission_rev": review.get("submission_rev"),
        "state": target["from"],
        "from": review.get("state"),
    }
    return {**review, "state": target["from"], "comments": comments, "history": [*history, entry], "updated_at": at}


def last_clerk_decision(review: Mapping[str, Any]) -> str | None:
    """The action (approve/reject/return) in force for the reviewed revision, undos considered."""
    undone = {e.get("undoes") for e in review.get("history", []) if e.get("action") == "undo"}
    for entry in reversed(review.get("history", [])):
        if entry.get("submission_rev") != review.get("submission_rev"):
            continue
        if entry.get("action") in CLERK_ACTIONS and entry.get("key") not in undone:
            return entry["action"]
    return None
