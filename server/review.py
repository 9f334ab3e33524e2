"""The ``review:<uuid>`` document: the server's verdict on one submission, kept beside it.

Pure functions only. The worker calls :func:`review_for` with a submission revision and the
review written so far; it returns the review to write, or None when this revision was already
reviewed. Keying the work on the submission revision is what makes the worker idempotent: a
crash between writing reviews and saving the checkpoint repeats the batch and writes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sync import names

from .validation import has_errors
from .validation.rules import Context
from .validation.submission import Catalog, local_today, validate_submission

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
