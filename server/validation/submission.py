"""Everything Fangpin checks about one submission, in one call: envelope, form, domain rules."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo

from forms.spec import FormSpec
from server.validation import ERROR, issue, without_shadowed_warnings
from server.validation.envelope import check_envelope
from server.validation.form import validate_data
from server.validation.rules import Context, apply_rules
from server.validation.xpath import parse_date, parse_datetime
from sync import names

# Surveys happen in China: "today" for `. <= today()` is the township's day, not UTC's.
LOCAL_TIME = ZoneInfo("Asia/Shanghai")

Catalog = Mapping[str, Mapping[str, FormSpec]]  # form id -> version -> spec
MAX_ISSUES = 200


def local_today() -> dt.date:
    return dt.datetime.now(LOCAL_TIME).date()


def form_day(doc: Mapping[str, Any], today: dt.date) -> dt.date:
    """The day ``today()`` meant on the device: the local day the survey was completed — the form's
    ``end`` metadata, else ``completed_at``, else its ``survey_date`` — never the day it arrived.

    Capped at the server's day, so a device clock set in the future does not hide future dates.
    """
    data = doc.get("data") if isinstance(doc.get("data"), dict) else {}
    for stated in (data.get("end"), doc.get("completed_at")):
        moment = parse_datetime(stated) if isinstance(stated, str) else None
        if moment is not None:
            local = moment.astimezone(LOCAL_TIME).date() if moment.tzinfo else moment.date()
            return min(local, today)
    surveyed = parse_date(data["survey_date"]) if isinstance(data.get("survey_date"), str) else None
    return min(surveyed, today) if surveyed is not None else today


def validate_submission(doc: Mapping[str, Any], village: str, catalog: Catalog, ctx: Context) -> list[dict]:
    """Issues of a submission stored in ``village``'s database; never raises on any input."""
    issues = check_envelope(doc, village, catalog)
    versions = catalog.get(doc.get("form_id")) if isinstance(doc.get("form_id"), str) else None
    spec = versions.get(doc.get("form_version")) if versions and isinstance(doc.get("form_version"), str) else None
    data = doc.get("data")
    if spec is not None and isinstance(data, dict):
        data, capped = cap_repeats(data, spec)
        form_issues, clean = validate_data(data, spec, form_day(doc, ctx.today))
        rule_issues = apply_rules(spec.form_id, clean, ctx)
        issues += capped + without_form_echo(form_issues, rule_issues) + place_mismatch(doc, data, spec)
        issues += rule_issues
        issues = with_labels(issues, spec)
    return cap_issues(without_shadowed_warnings(issues))


def with_labels(issues: list[dict], spec: FormSpec) -> list[dict]:
    """Messages that name the question by its label, as the form shows it (家庭成员第2项·身份证号),
    not by its data path; the path stays in ``path`` for machines."""
    out = []
    for found in issues:
        path = found.get("path") or ""
        labels = question_label(path, spec)
        if not labels:
            out.append(found)
            continue
        message = {lang: text.replace(path, labels[lang], 1) for lang, text in found["message"].items()}
        out.append({**found, "message": message})
    return out


def question_label(path: str, spec: FormSpec) -> dict[str, str] | None:
    """``members[2]/id_number`` → {"zh": "家庭成员第2项·身份证号", "en": "Household members #2 · ID number"};
    None for a path the form does not label."""
    parts, data_path = [], ""
    for step in path.split("/"):
        match = re.fullmatch(r"([A-Za-z_][\w.-]*)(?:\[(\d+)\])?", step)
        if match is None:
            return None
        data_path = f"{data_path}/{match.group(1)}" if data_path else match.group(1)
        field = spec.fields.get(data_path)
        label = field.label if field else None
        if not label:
            return None
        parts.append((label, match.group(2)))
    if not parts:
        return None
    out = {}
    for lang, (joiner, nth) in {"zh": ("·", "第{}项"), "en": (" · ", " #{}")}.items():
        words = []
        for label, index in parts:
            text = label.get(lang) or label.get("zh") or ""
            words.append(text + (nth.format(index) if index else ""))
        out[lang] = f"“{joiner.join(words)}”" if lang == "zh" else f'"{joiner.join(words)}"'
    return out


def without_form_echo(form_issues: list[dict], rule_issues: list[dict]) -> list[dict]:
    """The forms check some rules themselves (an ID's check digit, birth date and sex, from release
    2026120104), so the device refuses the value at once; where a domain rule names the same problem
    on the same answer, its message is the more precise one: one problem, one issue."""
    named = {i["path"] for i in rule_issues if i["severity"] == ERROR}
    # a wrong ID number is the problem; the birth date and sex the form compares with it follow from it
    wrong_ids = [path.removesuffix("id_number") for path in named if path.endswith("/id_number")]
    named |= {base + echo for base in wrong_ids for echo in ("birth_date", "sex")}
    # the relation's check (one head, spouse's sex: from release 2026120105) is the head rules' own
    head_rules = any(i["code"] in HEAD_RULES and i["severity"] == ERROR for i in rule_issues)
    return [
        i
        for i in form_issues
        if not (
            i["code"] == "constraint.failed"
            and (i["path"] in named or (head_rules and RELATION_PATH.fullmatch(i["path"] or "")))
        )
    ]


HEAD_RULES = frozenset({"household.no_head", "household.several_heads", "household.spouse_same_sex"})
RELATION_PATH = re.compile(r"members\[\d+\]/relation")


def place_mismatch(doc: Mapping[str, Any], data: dict, spec: FormSpec) -> list[dict]:
    """The answers repeat the submission's village and household; they must agree with it. Where the
    form itself constrains the answer (a typed id, release 2026112201) it already says what is wrong;
    a computed one (picked or scanned, from 2026120102) is checked here."""
    out = []
    for name in ("village_code", "household_id"):
        answer, stated, field = data.get(name), doc.get(name), spec.fields.get(name)
        if not isinstance(answer, str) or not isinstance(stated, str) or answer == stated or field is None:
            continue
        well_formed = names.is_household_id(answer) if name == "household_id" else names.is_village_code(answer)
        if field.kind != "calculate" and field.constraint and not well_formed:
            continue  # the form's own constraint reports it
        out.append(issue("envelope.data_mismatch", name, answer, expected=stated))
    return out


def cap_repeats(data: dict, spec: FormSpec) -> tuple[dict, list[dict]]:
    """The answers with every repeat cut at its bound (:meth:`FormSpec.max_items`), and an error for
    each repeat that was longer: what lies beyond the bound is neither checked nor applied."""
    issues: list[dict] = []

    def walk(node: dict, prefix: str, shown: str) -> dict:
        out = {}
        for key, value in node.items():
            path, where = prefix + str(key), shown + str(key)
            field = spec.fields.get(path)
            if field is not None and field.kind == "repeat" and isinstance(value, list):
                limit = spec.max_items(path)
                if len(value) > limit:
                    issues.append(issue("repeat.too_many", where, len(value), limit=limit))
                    value = value[:limit]
                value = [
                    walk(item, path + "/", f"{where}[{n}]/") if isinstance(item, dict) else item
                    for n, item in enumerate(value, 1)
                ]
            elif field is not None and field.kind == "group" and isinstance(value, dict):
                value = walk(value, path + "/", where + "/")  # only the form's own nesting, never deeper
            out[key] = value
        return out

    return walk(data, "", ""), issues


def cap_issues(issues: list[dict]) -> list[dict]:
    """At most MAX_ISSUES issues, errors first, and one more saying how many were left out: a review
    is pulled by every tablet of the village, so its size is bounded whatever was sent."""
    if len(issues) <= MAX_ISSUES:
        return issues
    kept = sorted(issues, key=lambda i: i["severity"] != ERROR)[:MAX_ISSUES]
    return [*kept, issue("issues.truncated", "", len(issues) - MAX_ISSUES, total=len(issues))]
