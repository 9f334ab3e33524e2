"""Domain rules from ../shared/domain.md: checks a form cannot express, as pure functions.

Each rule reads the typed data (dates are ``datetime.date``, numbers are numbers) and a
:class:`Context` with what lies outside the submission (the day of validation, the household's
size, which other households hold an ID number). Missing context means the rule is skipped,
never guessed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from forms.spec import selected
from server.validation import WARNING, idcard, issue


@dataclass(frozen=True)
class Context:
    today: dt.date
    household_id: str | None = None
    household_size: int | None = None  # from the household record, for damage surveys
    id_households: Callable[[str], set[str]] | None = None  # ID number -> households holding it


def age_on(birth: dt.date, day: dt.date) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def members(data: dict) -> Iterator[tuple[str, dict]]:
    for i, member in enumerate(data.get("members") or [], start=1):
        if isinstance(member, dict):
            yield f"members[{i}]", member


def id_numbers(data: dict) -> Iterator[tuple[str, str, dict | None]]:
    head = data.get("head_id_number")
    if isinstance(head, str) and head:
        yield "head_id_number", head, None
    for path, member in members(data):
        number = member.get("id_number")
        if isinstance(number, str) and number:
            yield f"{path}/id_number", number, member


def check_id_numbers(data: dict, ctx: Context) -> Iterator[dict]:
    claimed: dict[str, str] = {}  # ID number -> the member path that holds it (head_id_number repeats the head's)
    for path, number, member in id_numbers(data):
        if not idcard.well_formed(number):
            continue  # the form's own constraint reports the format
        if idcard.is_placeholder(number):
            yield issue("id.placeholder", path, number, severity=WARNING)
            continue
        if not idcard.check_digit_ok(number):
            yield issue("id.check_digit", path, number)
            continue
        born = idcard.birth_date(number)
        if born is None or born > ctx.today:
            yield issue("id.invalid_birth_date", path, number)
            continue
        if member is not None:
            base = path.rsplit("/", 1)[0]
            if isinstance(member.get("birth_date"), dt.date) and member["birth_date"] != born:
                yield issue(
                    "id.birth_date_mismatch",
                    f"{base}/birth_date",
                    member["birth_date"].isoformat(),
                    id_birth=born.isoformat(),
                )
            sex = member.get("sex")
            if sex in ("male", "female") and (sex == "male") != idcard.is_male(number):
                yield issue("id.sex_mismatch", f"{base}/sex", sex)
            if number in claimed:
                yield issue("id.duplicate_in_household", path, number)
            claimed.setdefault(number, path)
        if ctx.id_households is not None and ctx.household_id:
            others = sorted(ctx.id_households(number) - {ctx.household_id})
            if others:
                many = len(others) > SHOWN_HOUSEHOLDS  # one number in hundreds of households: name a few
                yield issue("id.duplicate_other_household", path, number, severity=WARNING,
                            households=", ".join(others[:SHOWN_HOUSEHOLDS]),
                            more_zh=f" 等 {len(others)} 户" if many else "",
                            more_en=f" ({len(others)} households in all)" if many else "")  # fmt: skip


SHOWN_HOUSEHOLDS = 5  # households a message names


def check_head(data: dict, _ctx: Context) -> Iterator[dict]:
    if not data.get("members"):
        yield issue("household.no_head", "members")
        return
    heads = [(p, m) for p, m in members(data) if m.get("relation") == "head"]
    if not heads:
        yield issue("household.no_head", "members")
    elif len(heads) > 1:
        yield issue("household.several_heads", "members", len(heads), count=len(heads))
    if len(heads) == 1:
        _, head = heads[0]
        for path, member in members(data):
            if member.get("relation") == "spouse" and head.get("sex") and member.get("sex") == head.get("sex"):
                yield issue("household.spouse_same_sex", f"{path}/sex", member.get("sex"))
        head_number, member_number = data.get("head_id_number"), head.get("id_number")
        if head_number and member_number and head_number != member_number:
            yield issue("id.head_mismatch", "head_id_number", head_number)


def check_members(data: dict, ctx: Context) -> Iterator[dict]:
    day = data.get("survey_date") if isinstance(data.get("survey_date"), dt.date) else ctx.today
    for path, member in members(data):
        born = member.get("birth_date")
        if isinstance(born, dt.date) and born <= day:
            age = age_on(born, day)
            if 6 <= age <= 15 and member.get("school") == "none" and member.get("out_of_school") == "no":
                yield issue("member.schooling_inconsistent", f"{path}/out_of_school", "no")
            if age < 16 and member.get("labour") not in (None, "none"):
                yield issue("member.child_labour", f"{path}/labour", member.get("labour"))
        if member.get("disability_grade") is not None and "disabled" not in selected(member.get("health")):
            yield issue(
                "member.disability_grade_not_disabled", f"{path}/disability_grade", member.get("disability_grade")
            )
        if member.get("medical_insurance") == "no":
            yield issue("member.no_medical_insurance", f"{path}/medical_insurance", "no", severity=WARNING)


def check_water(data: dict, _ctx: Context) -> Iterator[dict]:
    unsafe = any(data.get(k) == "no" for k in ("water_quantity_ok", "water_quality_ok", "water_access_ok"))
    if unsafe and "water" not in (data.get("risk_types") or "").split():
        yield issue("water.risk_not_recorded", "risk_types", data.get("risk_types"), severity=WARNING)


def check_casualties(data: dict, ctx: Context) -> Iterator[dict]:
    if not ctx.household_size:
        return
    counts = {k: data.get(k) for k in ("deaths", "missing", "injured_serious", "injured_minor")}
    total = sum(v for v in counts.values() if isinstance(v, int) and v > 0)
    if total > ctx.household_size:
        yield issue("damage.casualties_exceed_size", "deaths", total, total=total, size=ctx.household_size)


RULES: dict[str, list[Callable[[dict, Context], Iterator[dict]]]] = {
    "household_survey": [check_id_numbers, check_head, check_members, check_water],
    "damage_survey": [check_casualties],
}


def apply_rules(form_id: str, data: dict, ctx: Context) -> list[dict]:
    return [found for rule in RULES.get(form_id, []) for found in rule(data, ctx)]
