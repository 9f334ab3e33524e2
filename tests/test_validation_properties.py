"""Properties of the validator: valid records pass, a single corruption gives exactly its issue, and
no input whatsoever makes it raise."""

from __future__ import annotations

import datetime as dt
import itertools
import re

import records
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from forms import shipped_forms
from forms.spec import Field, FormSpec
from forms.spec import spec_for as compile_spec
from server.validation import CODES, ERROR
from server.validation.rules import Context
from server.validation.submission import validate_submission

SPECS = {f.form_id: compile_spec(f.xml) for f in shipped_forms()}  # the newest of each form
# what the server knows: every published version (a record of an older one is checked against it)
CATALOG: dict[str, dict[str, FormSpec]] = {}
for form in shipped_forms():
    CATALOG.setdefault(form.form_id, {})[form.version] = compile_spec(form.xml)
CTX = Context(today=records.TODAY, household_id=records.HOUSEHOLD)
SURVEY_DAY = dt.date(2026, 11, 20)
# Identity and place fields are bound to each other by domain rules (ID number ↔ birth date ↔ sex);
# they keep the base record's consistent values, everything else is drawn from the form spec.
FIXED = {
    "village_code",
    "household_id",
    "head_id_number",
    "survey_date",
    "members",
    "photos",
    "household_scan",
    "is_new",
    "household_pick",
    "new_household_id",
    "household_shown",
}
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def value_for(field: Field) -> st.SearchStrategy:
    """A valid value for a top-level field, from its kind, choices and the forms' constraints."""
    if field.kind == "select_one" and field.choice_values:
        return st.sampled_from(sorted(field.choice_values))
    if field.kind == "select_multiple":
        plain = sorted(field.choice_values - {"none"})
        picks = st.lists(st.sampled_from(plain), min_size=1, max_size=len(plain), unique=True).map(" ".join)
        return picks | st.just("none") if "none" in field.choice_values else picks
    if field.name == "rooms_minor":  # asked only when the house is damaged: at least one room in all
        return st.integers(1, 50)
    if field.kind == "integer":
        return st.integers(0, 50)
    if field.kind == "decimal":
        return st.floats(0, 1e4, allow_nan=False) | st.integers(0, 10**4)  # mu and yuan both fit
    if field.kind == "date":
        return st.dates(dt.date(2000, 1, 1), SURVEY_DAY).map(dt.date.isoformat)
    if field.kind == "dateTime":  # start, end: on the survey's day or after (ISO 8601, the device's offset)
        moments = st.datetimes(
            dt.datetime.combine(SURVEY_DAY, dt.time()), dt.datetime.combine(records.TODAY, dt.time())
        )
        return moments.map(lambda m: m.replace(microsecond=0).isoformat() + ".000+08:00")
    if field.kind == "geopoint":
        return st.tuples(st.floats(-90, 90), st.floats(-180, 180)).map(lambda p: f"{p[0]} {p[1]}")
    if field.name == "phone":
        return st.from_regex(r"\A1[3-9][0-9]{9}\Z")
    return st.text(st.characters(codec="utf-8", categories=["L", "N"]), min_size=1, max_size=20)


def leaves(spec: FormSpec) -> list[Field]:
    return [
        f
        for f in spec.fields.values()
        if not f.repeat and f.kind not in ("group", "repeat", "calculate") and f.path not in FIXED
    ]


@st.composite
def valid_record(draw, form_id: str) -> dict:
    data = records.data(form_id)
    for field in leaves(SPECS[form_id]):
        data[field.path] = draw(value_for(field))
    # the areas nest: 绝收 within 成灾 within 受灾 within the sown area
    nested = ("crop_area_mu", "crop_affected_mu", "crop_damaged_mu", "crop_lost_mu")
    for outer, inner in itertools.pairwise(nested):
        if isinstance(data.get(outer), (int, float)) and isinstance(data.get(inner), (int, float)):
            data[inner] = min(data[inner], data[outer])
    if "notes" in data:
        data["notes"] = draw(st.text(st.characters(categories=["L"]), min_size=1, max_size=30))
    doc = records.submission(form_id)
    doc["data"] = data
    return doc


def errors(doc: dict) -> list[tuple[str, str]]:
    issues = validate_submission(doc, records.VILLAGE, CATALOG, CTX)
    return sorted((i["path"], i["code"]) for i in issues if i["severity"] == ERROR)


@SETTINGS
@given(st.sampled_from(sorted(SPECS)).flatmap(valid_record))
def test_random_valid_records_have_no_errors(doc):
    assert errors(doc) == []


# A corruption per kind and the issue code it must produce.
CORRUPT = {
    "integer": ("zwölf", "type.integer"),
    "decimal": ("a lot", "type.decimal"),
    "date": ("2026-02-30", "type.date"),
    "geopoint": ("95 200", "type.geopoint"),
    "select_one": ("not-a-choice", "choice.unknown"),
    "select_multiple": (["food"], "type.select_multiple"),
    "text": (12345, "type.text"),
}


@SETTINGS
@given(st.data())
def test_a_single_corrupted_field_gives_exactly_its_issue(data):
    form_id = data.draw(st.sampled_from(sorted(SPECS)))
    doc = data.draw(valid_record(form_id))
    # a choice from a device's list (select_one_from_file) is not known here: only its type is checked
    corruptible = [f for f in leaves(SPECS[form_id]) if f.kind in CORRUPT and (f.kind != "select_one" or f.choices)]
    field = data.draw(st.sampled_from(corruptible))
    bad, code = CORRUPT[field.kind]
    doc["data"][field.path] = bad
    assert errors(doc) == [(field.path, code)]


@SETTINGS
@given(st.data())
def test_a_missing_required_field_gives_exactly_its_issue(data):
    form_id = data.draw(st.sampled_from(sorted(SPECS)))
    doc = records.submission(form_id)
    required = [f for f in leaves(SPECS[form_id]) if f.required == "true()" and not f.relevant]
    field = data.draw(st.sampled_from(required))
    del doc["data"][field.path]
    assert errors(doc) == [(field.path, "required.missing")]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=25,
)


def field_names(spec: FormSpec) -> list[str]:
    return sorted({f.name for f in spec.fields.values()})


@settings(max_examples=400, deadline=None)
@given(
    st.sampled_from(sorted(SPECS)).flatmap(
        lambda form_id: st.tuples(
            st.just(form_id),
            st.dictionaries(
                st.sampled_from(field_names(SPECS[form_id])) | st.text(max_size=8),
                json_values
                | st.lists(
                    st.dictionaries(st.sampled_from(field_names(SPECS[form_id])), json_values, max_size=8), max_size=3
                ),
                max_size=30,
            ),
        )
    )
)
def test_validator_never_raises_on_arbitrary_json(case):
    form_id, data = case
    doc = records.submission(form_id)
    doc["data"] = data
    issues = validate_submission(doc, records.VILLAGE, CATALOG, CTX)
    assert all(i["code"] in CODES for i in issues)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(max_size=15), json_values, max_size=12))
def test_validator_never_raises_on_arbitrary_documents(doc):
    issues = validate_submission({"_id": "submission:f", "_rev": "1-x", **doc}, records.VILLAGE, CATALOG, CTX)
    assert all(i["code"] in CODES for i in issues)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 400), st.integers(0, 80))
def test_repeats_and_issues_are_bounded_whatever_the_size(members, photos):
    """However many entries a survey sends, validation looks at most at the bound and says so."""
    from forms.spec import MAX_ITEMS
    from server.validation.submission import MAX_ISSUES

    doc = records.submission("household_survey", "bounded")
    doc["data"]["members"] = [{"name": f"成员{i}", "id_number": "1"} for i in range(members)]
    issues = validate_submission(doc, records.VILLAGE, CATALOG, Context(today=records.TODAY))
    assert len(issues) <= MAX_ISSUES + 1
    too_many = [i for i in issues if i["code"] == "repeat.too_many"]
    assert (members > MAX_ITEMS["members"]) == bool(too_many)
    positions = [int(p) for i in issues for p in re.findall(r"members\[(\d+)\]", i["path"])]
    assert max(positions, default=0) <= MAX_ITEMS["members"]
    damage = records.submission("damage_survey", "photos")
    damage["data"]["photos"] = [{"photo": f"p{i}.jpg"} for i in range(photos)]
    found = validate_submission(damage, records.VILLAGE, CATALOG, Context(today=records.TODAY))
    assert (photos > MAX_ITEMS["photos"]) == any(i["code"] == "repeat.too_many" for i in found)
