"""Table-driven validation cases: each corrupts a valid record and expects exact issue codes and paths.

Expected results follow the ODK XForms specification's definitions (relevance, required only when
relevant, constraints only on relevant non-empty values, select_multiple as space-separated values)
and the domain rules in ../shared/domain.md.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
from records import CHILD_ID, HEAD_ID, HOUSEHOLD, SPOUSE_ID, TODAY, VILLAGE, make_id, submission

from forms import shipped_forms
from forms.spec import spec_for
from server.validation import CODES, ERROR, WARNING
from server.validation.rules import Context
from server.validation.submission import validate_submission

CATALOG: dict = {}
for _form in shipped_forms():
    CATALOG.setdefault(_form.form_id, {})[_form.version] = spec_for(_form.xml)
DELETE = object()
D, H = "damage_survey", "household_survey"


def put(data: dict, path: str, value: object) -> None:
    """Set (or with DELETE remove) ``a/b[2]/c`` inside ``data``."""
    *parents, last = path.split("/")
    node = data
    for part in parents:
        match = re.fullmatch(r"(\w+)\[(\d+)\]", part)
        node = node[match.group(1)][int(match.group(2)) - 1] if match else node[part]
    if value is DELETE:
        node.pop(last, None)
    else:
        node[last] = value


def check(form: str, changes: dict, ctx: Context | None = None, **envelope) -> list[tuple[str, str]]:
    """Issues of the base record with ``changes`` to its answers (a ``/name`` key changes the envelope)."""
    doc = submission(form, **envelope)
    for path, value in changes.items():
        if path.startswith("/"):
            doc[path[1:]] = value
        else:
            put(doc["data"], path, value)
    issues = validate_submission(doc, VILLAGE, CATALOG, ctx or Context(today=TODAY, household_id=HOUSEHOLD))
    for i in issues:
        assert i["code"] in CODES and i["severity"] in (ERROR, WARNING)
        assert i["message"]["zh"] and i["message"]["en"]
    return sorted((i["path"], i["code"]) for i in issues)


FEMALE_SPOUSE = make_id("19480101", 2)
HOUSE_DAMAGE_QUESTIONS = ("rooms_damaged", "only_dwelling", "house_structure", "rooms_collapsed", "rooms_severe",
                          "rooms_minor")  # fmt: skip


def ignored(*fields: str) -> list[tuple[str, str]]:
    return [(f, "relevant.value_ignored") for f in fields]


CASES = [
    # -- damage survey: types ---------------------------------------------------------------
    ("damage valid", D, {}, []),
    ("integer as text", D, {"deaths": "x"}, [("deaths", "type.integer")]),
    ("integer with fraction", D, {"deaths": 1.5}, [("deaths", "type.integer")]),
    ("integer as boolean", D, {"deaths": True}, [("deaths", "type.integer")]),
    ("integer as digit string accepted", D, {"deaths": "3"}, []),
    ("integer below constraint", D, {"injured_minor": -1}, [("injured_minor", "constraint.failed")]),
    ("decimal as text", D, {"crop_area_mu": "abc"}, [("crop_area_mu", "type.decimal")]),
    ("decimal below constraint", D, {"direct_loss_yuan": -0.5}, [("direct_loss_yuan", "constraint.failed")]),
    ("decimal as numeric string accepted", D, {"crop_area_mu": "4.5"}, []),
    ("decimal integer accepted", D, {"direct_loss_yuan": 32000}, []),
    ("date not a calendar day", D, {"disaster_date": "2026-02-30"}, [("disaster_date", "type.date")]),
    (
        "metadata end as ODK sends it",
        D,
        {"start": "2026-11-20T09:02:11.481+08:00", "end": "2026-11-20T09:31:40.007+08:00"},
        [],
    ),
    ("metadata end not a moment", D, {"end": "yesterday"}, [("end", "type.datetime")]),
    ("date without dashes", D, {"survey_date": "20261120"}, [("survey_date", "type.date")]),
    ("date given as dateTime", D, {"disaster_date": "2026-11-18T10:00:00"}, [("disaster_date", "type.date")]),
    ("date in the future", D, {"disaster_date": "2026-11-23"}, [("disaster_date", "constraint.failed")]),
    (
        "date after the survey was completed",
        D,
        {"disaster_date": "2026-11-21"},
        [("disaster_date", "constraint.failed")],
    ),
    ("date on the day of the survey", D, {"disaster_date": "2026-11-20"}, []),
    ("select_one not a choice", D, {"disaster_type": "tsunami"}, [("disaster_type", "choice.unknown")]),
    ("select_one not text", D, {"disaster_type": 3}, [("disaster_type", "type.select_one")]),
    ("yes/no not a choice", D, {"only_dwelling": "maybe"}, [("only_dwelling", "choice.unknown")]),
    ("select_multiple unknown value", D, {"urgent_needs": "food tsunami"}, [("urgent_needs", "choice.unknown")]),
    ("select_multiple as list", D, {"urgent_needs": ["food"]}, [("urgent_needs", "type.select_multiple")]),
    ("select_multiple constraint", D, {"urgent_needs": "none food"}, [("urgent_needs", "constraint.failed")]),
    ("select_multiple single none", D, {"urgent_needs": "none"}, []),
    ("select_multiple extra spaces", D, {"urgent_needs": "  food   water "}, []),
    ("geopoint latitude out of range", D, {"location": "91 10"}, [("location", "type.geopoint")]),
    ("geopoint one number", D, {"location": "29.7"}, [("location", "type.geopoint")]),
    ("geopoint negative accuracy", D, {"location": "29.7 106.6 300 -1"}, [("location", "type.geopoint")]),
    ("geopoint two numbers", D, {"location": "29.7 106.6"}, []),
    ("optional empty", D, {"location": ""}, []),
    ("text as number", D, {"surveyor": 42}, [("surveyor", "type.text")]),
    ("a listed choice as a number", D, {"event_id": 42}, [("event_id", "type.select_one")]),
    ("text with control characters", D, {"event_id": "flood\x1f"}, [("event_id", "type.control_characters")]),
    ("unknown field", D, {"tsunami_height": 3}, [("tsunami_height", "field.unknown")]),
    # -- damage survey: required, relevance, constraints -----------------------------------
    ("required missing", D, {"deaths": DELETE}, [("deaths", "required.missing")]),
    ("required null", D, {"income_drop_pct": None}, [("income_drop_pct", "required.missing")]),
    ("required empty string", D, {"event_id": ""}, [("event_id", "required.missing")]),
    ("percent above 100", D, {"income_drop_pct": 101}, [("income_drop_pct", "constraint.failed")]),
    ("percent exactly 100", D, {"income_drop_pct": 100}, []),
    ("percent exactly 0", D, {"income_drop_pct": 0}, []),
    (
        "not relevant values are warnings",
        D,
        {"house_damage": "none"},
        ignored("house_structure", "only_dwelling", "rooms_collapsed", "rooms_damaged", "rooms_minor", "rooms_severe"),
    ),
    (
        "not relevant and not required",
        D,
        {"house_damage": "none", **dict.fromkeys(HOUSE_DAMAGE_QUESTIONS, DELETE)},
        [],
    ),
    (
        "relevant and required",
        D,
        {"house_damage": "minor", "rooms_minor": DELETE},
        [("rooms_minor", "required.missing")],
    ),
    (
        "relevance on crop loss",
        D,
        {"crop_loss_band": "none"},
        ignored("crop_affected_mu", "crop_damaged_mu", "crop_lost_mu", "crops_main_income"),
    ),
    ("village code format", D, {"village_code": "5001"}, [("village_code", "constraint.failed")]),
    ("household id format", D, {"household_id": "abc"}, [("household_id", "envelope.data_mismatch")]),
    (
        "household id not the submission's",
        D,
        {"household_id": "500112104201-0002"},
        [("household_id", "envelope.data_mismatch")],
    ),
    (
        "provisional household id",
        D,
        {
            "household_id": "new-3f1c2a9e-8b7d-4c6e-9f0a-1b2c3d4e5f60",
            "/household_id": "new-3f1c2a9e-8b7d-4c6e-9f0a-1b2c3d4e5f60",
            "is_new": "yes",
            "household_pick": DELETE,
            "new_household_id": "new-3f1c2a9e-8b7d-4c6e-9f0a-1b2c3d4e5f60",
        },
        [],
    ),
    # -- damage survey: repeats ---------------------------------------------------------------
    ("repeat not a list", D, {"photos": "a.jpg"}, [("photos", "repeat.not_list")]),
    ("repeat item not an object", D, {"photos": [{"photo": "a.jpg"}, 3]}, [("photos[2]", "repeat.item_not_object")]),
    ("binary not a file name", D, {"photos": [{"photo": 5}]}, [("photos[1]/photo", "type.binary")]),
    (
        "unknown field inside repeat",
        D,
        {"photos": [{"photo": "a.jpg", "caption": "x"}]},
        [("photos[1]/caption", "field.unknown")],
    ),
    ("empty repeat", D, {"photos": []}, []),
    # -- household survey: form -----------------------------------------------------------------
    ("household valid", H, {}, []),
    ("decimal income as text", H, {"income_wage": "lots"}, [("income_wage", "type.decimal")]),
    ("housing grade not a choice", H, {"housing_grade": "E"}, [("housing_grade", "choice.unknown")]),
    ("category missing", H, {"category": None}, [("category", "required.missing")]),
    ("survey in the future", H, {"survey_date": "2027-01-01"}, [("survey_date", "constraint.failed")]),
    ("member name missing", H, {"members[1]/name": DELETE}, [("members[1]/name", "required.missing")]),
    ("phone too short", H, {"phone": "12345"}, [("phone", "constraint.failed")]),
    ("phone bad prefix", H, {"phone": "12800138000"}, [("phone", "constraint.failed")]),
    ("phone optional", H, {"phone": DELETE}, []),
    (
        "head id format",
        H,
        {"head_id_number": "12345", "members[1]/id_number": DELETE},
        [("head_id_number", "constraint.failed")],
    ),
    ("other risk needs notes", H, {"risk_types": "other"}, [("notes", "required.missing")]),
    ("other risk with notes", H, {"risk_types": "other", "notes": "房屋被山洪冲毁"}, []),
    ("members not a list", H, {"members": "x"}, [("members", "household.no_head"), ("members", "repeat.not_list")]),
    (
        "disabled member without grade",
        H,
        {"members[2]/disability_grade": DELETE},
        [("members[2]/disability_grade", "required.missing")],
    ),
    (
        "disability grade out of range",
        H,
        {"members[2]/disability_grade": 5},
        [("members[2]/disability_grade", "constraint.failed")],
    ),
    (
        "out of school required for a child",
        H,
        {"members[3]/out_of_school": DELETE},
        [("members[3]/out_of_school", "required.missing")],
    ),
    (
        "out of school not asked of adults",
        H,
        {"members[1]/out_of_school": "no"},
        [("members[1]/out_of_school", "relevant.value_ignored")],
    ),
    (
        "birth date in the future",
        H,
        {"members[3]/id_number": DELETE, "members[3]/birth_date": "2030-01-01"},
        # a negative age also takes out_of_school out of relevance, as the form says
        [("members[3]/birth_date", "constraint.failed"), ("members[3]/out_of_school", "relevant.value_ignored")],
    ),
    # -- household survey: domain rules -------------------------------------------------------
    (
        "head id check digit",
        H,
        {"head_id_number": "110105194912310021"},
        [("head_id_number", "id.check_digit"), ("head_id_number", "id.head_mismatch")],
    ),
    (
        "member id check digit",
        H,
        {"members[2]/id_number": "110105194801010031"},
        [("members[2]/id_number", "id.check_digit")],
    ),
    (
        "id with impossible birth date",
        H,
        {"members[2]/id_number": make_id("19481301", 3)},
        [("members[2]/id_number", "id.invalid_birth_date")],
    ),
    (
        "placeholder id is a warning",
        H,
        {"members[3]/id_number": "999999201503010010"},
        [("members[3]/id_number", "id.placeholder")],
    ),
    (
        "birth date differs from id",
        H,
        {"members[2]/birth_date": "1948-01-02"},
        [("members[2]/birth_date", "id.birth_date_mismatch")],
    ),
    ("sex differs from id", H, {"members[3]/sex": "female"}, [("members[3]/sex", "id.sex_mismatch")]),
    (
        "spouse has the head's sex",
        H,
        {"members[2]/id_number": FEMALE_SPOUSE, "members[2]/sex": "female"},
        [("members[2]/sex", "household.spouse_same_sex")],
    ),
    ("no head", H, {"members[1]/relation": "mother"}, [("members", "household.no_head")]),
    ("two heads", H, {"members[2]/relation": "head"}, [("members", "household.several_heads")]),
    ("no members", H, {"members": []}, [("members", "household.no_head")]),
    (
        "same id twice in a household",
        H,
        {"members[3]/id_number": SPOUSE_ID},
        [("members[3]/birth_date", "id.birth_date_mismatch"), ("members[3]/id_number", "id.duplicate_in_household")],
    ),
    (
        "child not in school and not marked",
        H,
        {"members[3]/school": "none"},
        [("members[3]/out_of_school", "member.schooling_inconsistent")],
    ),
    ("child out of school and marked", H, {"members[3]/school": "none", "members[3]/out_of_school": "yes"}, []),
    ("child with labour", H, {"members[3]/labour": "normal"}, [("members[3]/labour", "member.child_labour")]),
    (
        "aged 15 with labour",
        H,
        {
            "members[3]/id_number": make_id("20101121", 1),
            "members[3]/birth_date": "2010-11-21",
            "members[3]/labour": "normal",
        },
        [("members[3]/labour", "member.child_labour")],
    ),
    (
        "aged exactly 16 may work",
        H,
        {
            "members[3]/id_number": make_id("20101120", 1),
            "members[3]/birth_date": "2010-11-20",
            "members[3]/labour": "normal",
            "members[3]/out_of_school": DELETE,
        },
        [],
    ),
    (
        "grade for a healthy member",
        H,
        {"members[1]/disability_grade": 1},
        [("members[1]/disability_grade", "member.disability_grade_not_disabled")],
    ),
    (
        "no medical insurance",
        H,
        {"members[1]/medical_insurance": "no"},
        [("members[1]/medical_insurance", "member.no_medical_insurance")],
    ),
    ("unsafe water without water risk", H, {"water_quality_ok": "no"}, [("risk_types", "water.risk_not_recorded")]),
    ("unsafe water with water risk", H, {"water_access_ok": "no", "risk_types": "water disaster"}, []),
]


@pytest.mark.parametrize(("name", "form", "changes", "expected"), CASES, ids=[c[0] for c in CASES])
def test_case(name, form, changes, expected):
    assert check(form, changes) == sorted(expected)


def test_there_are_at_least_sixty_cases_across_both_forms():
    assert len(CASES) >= 60
    assert {c[1] for c in CASES} == {D, H}


def test_every_xform_kind_in_the_forms_is_covered_by_a_case():
    kinds = {f.kind for versions in CATALOG.values() for spec in versions.values() for f in spec.fields.values()}
    covered = {
        "text",
        "integer",
        "decimal",
        "date",
        "dateTime",  # the start and end metadata
        "geopoint",
        "select_one",
        "select_multiple",
        "binary",
        "calculate",
        "repeat",
    }
    assert kinds <= covered | {"group"}


def test_severity_of_rules():
    doc = submission(H)
    doc["data"]["members"][0]["medical_insurance"] = "no"
    doc["data"]["head_id_number"] = "110105194912310021"
    issues = {i["code"]: i for i in validate_submission(doc, VILLAGE, CATALOG, Context(today=TODAY))}
    assert issues["member.no_medical_insurance"]["severity"] == WARNING
    assert issues["id.check_digit"]["severity"] == ERROR
    assert issues["id.check_digit"]["value"] == "110105194912310021"


def test_constraint_issue_carries_the_forms_own_message():
    doc = submission(D)
    doc["data"]["income_drop_pct"] = 120
    [found] = validate_submission(doc, VILLAGE, CATALOG, Context(today=TODAY))
    assert found["message"] == {  # the question by its label, as the form shows it, not its data path
        "zh": "“预计今年家庭收入下降（%）”：须在0到100之间",
        "en": '"Expected drop of this year\'s income (%)": Must be between 0 and 100',
    }
    assert found["path"] == "income_drop_pct" and found["value"] == 120


def test_issue_messages_name_repeat_questions_by_group_entry_and_label():
    doc = submission(H)
    doc["data"]["members"][1]["id_number"] = "110105194912310021"  # a wrong check digit
    found = [
        i for i in validate_submission(doc, VILLAGE, CATALOG, Context(today=TODAY)) if i["code"] == "id.check_digit"
    ]
    assert found and found[0]["path"] == "members[2]/id_number"
    assert "第2项·身份证号" in found[0]["message"]["zh"] and "members[2]" not in found[0]["message"]["zh"]
    assert "#2 · " in found[0]["message"]["en"]


def test_same_id_in_another_household_warns():
    index = {SPOUSE_ID: {HOUSEHOLD, f"{VILLAGE}-0007"}, HEAD_ID: {HOUSEHOLD}, CHILD_ID: set()}
    ctx = Context(today=TODAY, household_id=HOUSEHOLD, id_households=lambda n: index.get(n, set()))
    assert check(H, {}, ctx) == [("members[2]/id_number", "id.duplicate_other_household")]
    def found() -> dict:
        [one] = [i for i in validate_submission(submission(H), VILLAGE, CATALOG, ctx) if i["code"].startswith("id.")]
        return one

    assert found()["message"]["zh"].endswith(f"：{VILLAGE}-0007")
    # a number listed in forty households: the message names five and counts the rest
    index[SPOUSE_ID] = {HOUSEHOLD} | {f"{VILLAGE}-{n:04d}" for n in range(100, 140)}
    message = found()["message"]
    assert message["zh"].endswith(f"{VILLAGE}-0104 等 40 户") and message["zh"].count(VILLAGE) == 5
    assert message["en"].endswith("(40 households in all)")


def test_casualties_against_household_size():
    three = Context(today=TODAY, household_id=HOUSEHOLD, household_size=3)
    assert check(D, {"deaths": 2}, three) == [("deaths", "damage.casualties_exceed_size")]  # 2 + 1 + 1 > 3
    assert check(D, {"deaths": 1}, three) == []  # exactly the household size
    assert check(D, {"deaths": 5}) == []  # size unknown: skipped, never guessed


def test_form_expressions_use_the_day_the_survey_was_completed():
    # completed on 2026-11-20 (Beijing time): born 2010-11-21 is 15 there, so out_of_school is asked
    late = {"members[3]/id_number": make_id("20101121", 1), "members[3]/birth_date": "2010-11-21"}
    assert check(H, late) == []
    # the same record completed two days later: the member is 16 and the question no longer applies
    assert check(H, late, completed_at="2026-11-22T10:00:00+08:00") == [
        ("members[3]/out_of_school", "relevant.value_ignored")
    ]
    # a device clock in the future does not move "today" past the server's day
    assert check(D, {"disaster_date": "2026-11-25"}, completed_at="2026-12-01T10:00:00+08:00") == [
        ("disaster_date", "constraint.failed")
    ]


def test_a_submission_is_validated_against_the_version_it_names():
    assert check(D, {}, form_version="2025010101") == [("form_version", "form.version_unknown")]
    doc = submission(D, data="not an object")
    issues = validate_submission(doc, VILLAGE, CATALOG, Context(today=TODAY))
    assert [(i["path"], i["code"]) for i in issues] == [("data", "envelope.type")]


def test_today_is_the_day_the_form_says_it_was_completed_never_the_upload_day():
    from records import V1

    from server.validation.submission import form_day

    # the third member turns 6 on 2026-11-28: filled on 11-25, uploaded on 12-01
    six_on_28th = {"members[3]/id_number": make_id("20201128", 1), "members[3]/birth_date": "2020-11-28",
                   "members[3]/out_of_school": DELETE}  # fmt: skip
    upload = Context(today=dt.date(2026, 12, 1), household_id=HOUSEHOLD)
    filled = {**six_on_28th, "end": "2026-11-25T10:00:00.000+08:00"}
    assert check(H, filled, upload, completed_at="2026-12-01T09:00:00+08:00") == []
    # had the upload day been used, the 6-year-old would owe an answer
    assert check(H, six_on_28th, upload, completed_at="2026-12-01T09:00:00+08:00") == [
        ("members[3]/out_of_school", "required.missing")
    ]
    # no end and no completion time: the survey's own date
    assert form_day({"data": {"survey_date": "2026-11-24"}}, dt.date(2026, 12, 1)) == dt.date(2026, 11, 24)
    assert form_day({"data": {"survey_date": "2026-12-09"}}, dt.date(2026, 12, 1)) == dt.date(2026, 12, 1)
    # the exact age: on the sixth birthday the child is 6 (the first release's 365.25-day formula said 5)
    birthday = {**six_on_28th, "end": "2026-11-28T10:00:00.000+08:00"}
    assert check(H, birthday, upload) == [("members[3]/out_of_school", "required.missing")]
    assert check(H, {k: v for k, v in birthday.items() if k != "end"}, upload, form_version=V1,
                 completed_at="2026-11-28T10:00:00+08:00") == []  # fmt: skip


def test_a_survey_of_the_first_release_still_validates_against_it():
    from records import V1

    assert check(D, {}, form_version=V1) == [] and check(H, {}, form_version=V1) == []
    assert check(H, {"income_wage": -1}, form_version=V1) == [("income_wage", "constraint.failed")]
    # there the household id is typed, and the form's own constraint says what is wrong with it
    assert check(D, {"household_id": "abc"}, form_version=V1) == [("household_id", "constraint.failed")]


@pytest.mark.parametrize(
    ("form", "changes", "message"),
    [
        (D, {"disaster_date": "2026-11-20", "survey_date": "2026-11-19"}, "受灾日期不能晚于今天或调查日期"),
        (D, {"deaths": 60}, "须在0到50人之间"),
        (D, {"rooms_minor": 0, "rooms_severe": 0}, "每类0到50间，合计至少1间"),
        (D, {"crop_area_mu": 45000}, "须在0到10000亩之间"),
        (D, {"livestock_pigs": 200000}, "须在0到100000头（只）之间"),
        (D, {"water_cut_days": 400}, "须在0到366天之间"),
        (D, {"direct_loss_yuan": 320000000}, "金额须在0到1000万元之间"),
        (H, {"income_wage": 120000000}, "金额须在0到1000万元之间"),
        (H, {"water_outage_days": 367}, "须在0到366天之间"),
    ],
)
def test_the_forms_bounds_catch_a_slipped_finger_on_the_server_too(form, changes, message):
    """Release 2026120103's checks, as the form states them: the server evaluates the same
    constraint and reports it with the form's own Chinese and English message."""
    from records import NEW_IN_05, V1

    doc = submission(form)
    for path, value in changes.items():
        put(doc["data"], path, value)
    issues = validate_submission(doc, VILLAGE, CATALOG, Context(today=TODAY, household_id=HOUSEHOLD))
    [failed] = [i for i in issues if i["code"] == "constraint.failed"]
    assert failed["path"] == next(iter(changes)) and message in failed["message"]["zh"]
    assert failed["message"]["en"] and failed["message"]["en"] not in failed["message"]["zh"]
    if "survey_date" not in changes and not set(changes) & NEW_IN_05:  # the first release had no bound
        assert check(form, changes, form_version=V1) == []


def test_the_form_checks_an_id_number_as_the_server_does_and_one_problem_is_one_issue():
    """Release 2026120104 checks the ID's check digit, and the birth date and sex against it, in the
    form (the device refuses at once); on the server the domain rule's message is kept, alone."""
    from lxml import etree

    from server.validation import idcard
    from server.validation.xpath import evaluate, evaluation_day

    spec = CATALOG[H]["2026120104"]
    constraint = spec.fields["members/id_number"].constraint
    with evaluation_day(TODAY):
        for number in [HEAD_ID, SPOUSE_ID, CHILD_ID, "999999194901010011", *(HEAD_ID[:17] + c for c in "0123456789X")]:
            doc = etree.fromstring(f"<data><members><id_number>{number}</id_number></members></data>".encode())
            ok = evaluate(constraint, doc.find("members/id_number"))
            assert ok == (idcard.check_digit_ok(number) or number.startswith("999999")), number
    # one problem, one issue: the rule's, never the form's echo beside it
    wrong_digit = HEAD_ID[:17] + "5"
    for changes, expected in [
        (
            {"members[1]/id_number": wrong_digit, "head_id_number": wrong_digit},
            {("members[1]/id_number", "id.check_digit"), ("head_id_number", "id.check_digit")},
        ),
        ({"members[3]/birth_date": "2015-03-02"}, {("members[3]/birth_date", "id.birth_date_mismatch")}),
        ({"members[3]/sex": "female"}, {("members[3]/sex", "id.sex_mismatch")}),
    ]:
        assert set(check(H, changes)) == expected and len(check(H, changes)) == len(expected)
    # the format is the form's own check, with its message
    doc = submission(H)
    put(doc["data"], "members[2]/id_number", "11010519480101003")
    issues = validate_submission(doc, VILLAGE, CATALOG, Context(today=TODAY, household_id=HOUSEHOLD))
    [short] = [i for i in issues if i["path"] == "members[2]/id_number"]
    assert short["code"] == "constraint.failed" and "末位校验码须正确" in short["message"]["zh"]
