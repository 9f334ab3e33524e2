"""Envelope check and review builder: pure functions over plain data."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forms import shipped_forms
from forms.spec import spec_for
from server.casework.review import (
    STATES,
    ActionRefused,
    check,
    clerk_action,
    last_clerk_decision,
    next_state,
    review_for,
    undo,
)
from server.validation import CODES
from server.validation.envelope import REQUIRED, check_envelope
from server.validation.rules import Context

VILLAGE = "500112104201"
FORMS: dict = {}
for _form in shipped_forms():
    FORMS.setdefault(_form.form_id, {})[_form.version] = spec_for(_form.xml)
NOW = "2026-11-22T08:00:00Z"
TODAY = dt.date(2026, 11, 22)


def submission(**over) -> dict:
    doc = {
        "_id": "submission:u1",
        "_rev": "1-a",
        "type": "submission",
        "form_id": "damage_survey",
        "form_version": "2026112201",
        "village_code": VILLAGE,
        "household_id": f"{VILLAGE}-0001",
        "submitted_by": "gw_a",
        "device_id": "tab-1",
        "completed_at": "2026-11-20T10:00:00+08:00",
        "data": {"house_damage": "severe"},
    }
    doc.update(over)
    return {k: v for k, v in doc.items() if v is not None}


def codes(issues):
    return sorted((i["path"], i["code"]) for i in issues)


def test_complete_envelope_has_no_issues():
    assert check_envelope(submission(), VILLAGE, FORMS) == []


def test_each_missing_required_field_is_named():
    for field in REQUIRED:
        issues = check_envelope(submission(**{field: None}), VILLAGE, FORMS)
        assert ("envelope.missing" in {i["code"] for i in issues}) and field in {i["path"] for i in issues}


def test_wrong_types_unknown_form_version_and_village():
    issues = check_envelope(submission(data=[1], household_base_version="3"), VILLAGE, FORMS)
    assert codes(issues) == [("data", "envelope.type"), ("household_base_version", "envelope.type")]
    assert codes(check_envelope(submission(form_id="flood_form"), VILLAGE, FORMS)) == [("form_id", "form.unknown")]
    assert codes(check_envelope(submission(form_version="1999"), VILLAGE, FORMS)) == [
        ("form_version", "form.version_unknown")
    ]
    assert codes(check_envelope(submission(), "500112104202", FORMS)) == [("village_code", "envelope.village_mismatch")]


def test_booleans_are_not_integers():
    issues = check_envelope(submission(household_base_version=True), VILLAGE, FORMS)
    assert codes(issues) == [("household_base_version", "envelope.type")]


def test_messages_are_bilingual_and_codes_documented():
    issues = check_envelope({"_id": "submission:x", "_rev": "1-a", "form_id": "zz"}, VILLAGE, FORMS)
    assert issues
    for i in issues:
        assert i["code"] in CODES
        assert i["message"]["zh"] and i["message"]["en"] and i["message"]["zh"] != i["message"]["en"]
        assert i["severity"] == "error"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=10,
)


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from([*REQUIRED, "device_id", "started_at", "household_base_version", "x"]), json_values, max_size=10
    )
)
def test_envelope_check_is_total(doc):
    """Whatever a device sends, the check answers with issues and never raises."""
    doc = {"_id": "submission:p", "_rev": "1-a", **doc}
    issues = check_envelope(doc, VILLAGE, FORMS)
    review = reviewed(doc, None, NOW)
    assert review is not None and review["state"] in STATES
    assert all(i["code"] in CODES for i in issues)
    assert (review["state"] == "has_issues") == any(i["severity"] == "error" for i in issues)


def reviewed(doc: dict, existing: dict | None, now: str = NOW) -> dict | None:
    return review_for(doc, existing, VILLAGE, check(doc, VILLAGE, FORMS, Context(today=TODAY)), now)


def test_same_revision_is_reviewed_once():
    first = reviewed(submission(), None, NOW)
    assert first["state"] == "has_issues" and first["submission_rev"] == "1-a"  # empty data: required fields
    assert first["checks"] == {"form_known": True, "version_known": True, "envelope_complete": True}
    stored = {**first, "_rev": "1-r"}
    assert reviewed(submission(), stored, NOW) is None


def test_new_revision_keeps_history_and_comments():
    stored = {
        **reviewed(submission(), None, NOW),
        "_rev": "2-r",
        "state": "returned",
        "comments": [{"by": "clerk", "text": "补拍照片"}],
    }
    second = reviewed(submission(_rev="2-b", form_id="flood"), stored, "2026-11-23T08:00:00Z")
    assert second["state"] == "has_issues"
    third = reviewed(
        submission(_rev="3-c", form_id="flood", form_version="x", data=None), {**second, "state": "returned"}
    )
    assert third["state"] == "has_issues"
    assert second["_rev"] == "2-r"
    assert second["comments"] == stored["comments"]
    assert [h["submission_rev"] for h in second["history"]] == ["1-a", "2-b"]
    assert second["received_at"] == NOW


def test_state_transitions():
    assert next_state(None, False) == "received"
    assert next_state(None, True) == "has_issues"
    assert next_state("has_issues", False) == "received"
    assert next_state("returned", False) == "edited"
    assert next_state("approved", True) == "has_issues"


def test_what_feeds_the_household_record():
    from server.casework.review import contributes

    sub = submission()
    placeable = [{"path": "phone", "code": "constraint.failed", "severity": "error"}]
    assert contributes(sub, [], None) and contributes(sub, placeable, None)  # bad answers are left out, not the survey
    unknown_form = [{"path": "form_id", "code": "form.unknown", "severity": "error"}]
    assert not contributes(sub, unknown_form, None)
    rejected = {"state": "rejected", "submission_rev": sub["_rev"]}
    assert not contributes(sub, [], rejected)
    assert contributes({**sub, "_rev": "2-fix"}, [], rejected)  # the device corrected it


# -- clerk actions and undo ----------------------------------------------------------------------


def review_doc(state="received", issues=()):
    return {
        "_id": "review:u1",
        "submission_rev": "1-a",
        "state": state,
        "issues": list(issues),
        "comments": [],
        "history": [{"at": NOW, "by": "worker", "action": "checked", "state": state}],
    }


ERROR = {"path": "deaths", "code": "constraint.failed", "severity": "error"}
WARNING = {"path": "members[1]/medical_insurance", "code": "rule.no_medical_insurance", "severity": "warning"}


def test_approve_keeps_the_state_before_and_is_idempotent_by_key():
    after = clerk_action(review_doc(issues=[WARNING]), "approve", "clerk", NOW, "k1")
    assert after["state"] == "approved"
    assert after["history"][-1] | {} == {
        "at": NOW, "by": "clerk", "action": "approve", "key": "k1", "submission_rev": "1-a",
        "state": "approved", "from": "received",
    }  # fmt: skip
    assert clerk_action(after, "approve", "clerk", NOW, "k1") is None
    assert last_clerk_decision(after) == "approve"


def test_errors_block_approval_and_reject_or_return_need_a_comment():
    for action, review, code in [
        ("approve", review_doc("has_issues", [ERROR]), "has_errors"),
        ("reject", review_doc(), "comment_required"),
        ("return", review_doc(), "comment_required"),
        ("approve", review_doc("returned"), "wrong_state"),
        ("approve", review_doc("approved"), "wrong_state"),
        ("reject", review_doc("rejected"), "wrong_state"),
        ("delete", review_doc(), "unknown_action"),
    ]:
        with pytest.raises(ActionRefused) as refused:
            clerk_action(review, action, "clerk", NOW, "k", comment="  " if action == "return" else None)
        assert refused.value.code == code and refused.value.zh and refused.value.en, action


def test_return_writes_the_comment_the_tablet_shows_and_undo_withdraws_it():
    returned = clerk_action(review_doc("has_issues", [ERROR]), "return", "clerk", NOW, "k2", "  死亡人数超过家庭人口 ")
    assert returned["state"] == "returned"
    assert returned["comments"] == [
        {
            "at": NOW,
            "by": "clerk",
            "action": "return",
            "key": "k2",
            "text": "死亡人数超过家庭人口",
            "submission_rev": "1-a",
        }
    ]
    back = undo(returned, "k2", "clerk", NOW, "u2")
    assert back["state"] == "has_issues" and back["comments"][0]["withdrawn"] is True
    assert back["history"][-1]["action"] == "undo" and back["history"][-1]["undoes"] == "k2"
    assert last_clerk_decision(back) is None
    assert undo(back, "k2", "clerk", NOW, "u2") is None  # the same undo again: nothing to do


def test_undo_is_refused_once_the_submission_moved_on():
    approved = clerk_action(review_doc(), "approve", "clerk", NOW, "k3")
    checked = {"action": "checked", "state": "edited", "submission_rev": "2-b"}
    moved = {**approved, "submission_rev": "2-b", "state": "edited", "history": [*approved["history"], checked]}
    rejected = clerk_action(approved, "reject", "clerk2", NOW, "k4", "重复录入")
    # a new revision arrived; an unknown key; another clerk acted after k3
    for review, key, code in ((moved, "k3", "moved_on"), (approved, "nope", "not_found"), (rejected, "k3", "moved_on")):
        with pytest.raises(ActionRefused) as refused:
            undo(review, key, "clerk", NOW, "u3")
        assert refused.value.code == code
