"""Risk-tier policy as data: load a TOML policy, check it, and say where a mistake is.

A policy is what a county may read, change and audit: the income lines with their sources, the
thresholds of rules H1–H7 and M1–M8, their texts, the measures they suggest ("缺什么补什么") and
the deadlines. The rule *logic* lives in :mod:`server.casework.tiers`; everything it compares against
lives here. ``[counties."<6-digit code>"]`` sections override any part for one county.

Every error names the line and the key, in Chinese and English, so that a clerk editing the file
in a text editor can find it.
"""

from __future__ import annotations

import copy
import re
import string
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

DEFAULT_PATH = Path(__file__).with_name("default.toml")
RULE_IDS = ("H1", "H2", "H3", "H4", "H5", "H6", "H7", "M1", "M2", "M3", "M4", "M5", "M6", "M7", "M8")
TIERS = ("high", "medium")
# What each rule's message may mention (the values the engine reports for it).
RULE_VALUES: dict[str, set[str]] = {
    "H1": {"house_damage", "housing_grade", "only_dwelling", "safe_shelter", "can_recover_alone"},
    "H2": {"water_cut_days", "water_quantity_ok", "water_quality_ok"},
    "H3": {"school_age_from", "school_age_to", "members"},
    "H4": {"members"},
    "H5": {"per_capita_after", "income_line", "income_line_source", "size", "net_income", "income_drop_pct"},
    "H6": {"lost", "labour_before", "labour_left"},
    "H7": {"rigid_expenses", "last_year_income", "expense_medical_oop", "expense_education", "direct_loss_yuan"},
    "M1": {"house_damage"},
    "M2": {"crop_loss_band", "crops_main_income"},
    "M3": {"per_capita_after", "multiple", "threshold", "income_line"},
    "M4": {"medical_oop", "last_year_income", "share_pct"},
    "M5": {"group", "category", "welfare", "damage"},
    "M6": {"members"},
    "M7": {"income_drop_pct"},
    "M8": {"situation", "relocated", "deaths", "missing", "injured_serious"},
}
THRESHOLDS: dict[str, type | tuple[type, ...]] = {
    "water_cut_days": int,
    "school_age": list,
    "high_house_damage": list,
    "high_housing_grades": list,
    "labour_left_share": (int, float),
    "medium_house_damage": list,
    "medium_crop_loss_bands": list,
    "medium_income_multiple": (int, float),
    "medium_medical_share": (int, float),
    "monitored_categories": list,
    "welfare_recipients": list,
    "medium_disability_grades": list,
    "medium_income_drop_pct": (int, float),
    "relocations": list,
    "urgent_needs": list,
}
LABOUR_LEVELS = ("normal", "weak", "none")
RIGID_PARTS = ("expense_medical_oop", "expense_education", "direct_loss_yuan")
# A rule's measure lists: plain lists, or tables keyed by labour level / by H7's largest part.
MEASURE_LISTS = ("measures", "measures_without_shelter", "measures_if_relocated")
MEASURE_TABLES = {"measures_by_labour": LABOUR_LEVELS, "measures_by_largest": RIGID_PARTS}
NEEDS = ("urgent", "loans_due")


@dataclass(frozen=True)
class Problem:
    key: str
    line: int | None
    zh: str
    en: str

    def __str__(self) -> str:
        where = f"line {self.line}, " if self.line else ""
        return f"{where}{self.key}: {self.zh} / {self.en}"


class PolicyError(ValueError):
    def __init__(self, source: str, problems: list[Problem]) -> None:
        super().__init__(f"{source}: " + "; ".join(map(str, problems)))
        self.source, self.problems = source, problems


@dataclass(frozen=True, eq=False)
class Policy:
    """A checked policy. ``data`` is the parsed file; :meth:`for_county` applies an override."""

    data: Mapping[str, Any]
    text: str

    @property
    def name(self) -> str:
        return self.data["policy"]["name"]

    @property
    def version(self) -> str:
        return self.data["policy"]["version"]

    def for_county(self, county: str) -> Mapping[str, Any]:
        return _county_view(self, county)

    def income_line(self, area_code: str, year: int, county: str | None = None) -> dict | None:
        """The line for a village (12 digits) in a year: newest year ≤ ``year``, then longest prefix."""
        data = self.for_county(county or area_code[:6])
        lines = [x for x in data["income_lines"] if area_code.startswith(x["area"]) and x["year"] <= year]
        if not lines:
            return None
        return max(lines, key=lambda x: (x["year"], len(x["area"])))


@lru_cache(maxsize=256)
def _county_view(policy: Policy, county: str) -> Mapping[str, Any]:
    override = policy.data.get("counties", {}).get(county)
    return _merged(policy.data, override) if override else policy.data


def _merged(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict:
    out = copy.deepcopy(dict(base))
    for key, value in override.items():
        if key == "income_lines":  # a county's lines come on top of the general ones
            out[key] = [*out.get(key, []), *value]
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merged(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


# -- loading ----------------------------------------------------------------------------------
def load(path: Path | str) -> Policy:
    path = Path(path)
    return parse(path.read_text(encoding="utf-8"), str(path))


def default() -> Policy:
    return _default()


@lru_cache(maxsize=1)
def _default() -> Policy:
    return load(DEFAULT_PATH)


def parse(text: str, source: str = "<policy>") -> Policy:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"line (\d+)", str(exc))
        raise PolicyError(
            source,
            [Problem("", int(match.group(1)) if match else None, f"TOML 语法错误：{exc}", f"TOML syntax: {exc}")],
        ) from None
    problems = _check(data, text)
    for county, override in (data.get("counties") or {}).items():
        if not re.fullmatch(r"\d{6}", str(county)):
            problems.append(_problem(text, f"counties.{county}", "县代码须为6位数字", "a county code has 6 digits"))
        elif isinstance(override, dict):
            problems += [
                p
                for p in _check(_merged({k: v for k, v in data.items() if k != "counties"}, override), text)
                if p not in problems
            ]
    if problems:
        raise PolicyError(source, problems)
    return Policy(data=data, text=text)


def _check(data: Mapping[str, Any], text: str) -> list[Problem]:
    out: list[Problem] = []

    def bad(key: str, zh: str, en: str) -> None:
        out.append(_problem(text, key, zh, en))

    meta = data.get("policy")
    if not isinstance(meta, dict):
        bad("policy", "缺少 [policy] 节", "the [policy] table is missing")
    else:
        for key in ("name", "version"):
            if not isinstance(meta.get(key), str) or not meta[key].strip():
                bad(f"policy.{key}", "须为非空文本", "must be a non-empty string")
    deadlines = data.get("deadlines")
    for key in ("high_days", "medium_days", "publicity_days", "elimination_months"):
        value = deadlines.get(key) if isinstance(deadlines, dict) else None
        if not _int(value) or value <= 0:
            bad(f"deadlines.{key}", "须为正整数（天数或月数）", "must be a positive whole number (days or months)")
    thresholds = data.get("thresholds") if isinstance(data.get("thresholds"), dict) else {}
    for key, kind in THRESHOLDS.items():
        value = thresholds.get(key)
        if value is None:
            bad(f"thresholds.{key}", "缺少该阈值", "this threshold is missing")
        elif not isinstance(value, kind) or isinstance(value, bool) or (not isinstance(value, list) and value < 0):
            bad(f"thresholds.{key}", "类型或取值不对", "has the wrong type or a negative value")
    for key in sorted(set(thresholds) - set(THRESHOLDS)):
        bad(f"thresholds.{key}", "未知的阈值", "unknown threshold")
    age = thresholds.get("school_age")
    if isinstance(age, list) and not (len(age) == 2 and all(_int(a) for a in age) and age[0] <= age[1]):
        bad("thresholds.school_age", "须为 [最小年龄, 最大年龄]", "must be [from, to] whole years")
    lines = data.get("income_lines")
    if not isinstance(lines, list) or not lines:
        bad("income_lines", "至少需要一条监测收入线", "at least one income line is needed")
        lines = []
    for i, line in enumerate(lines):
        key = f"income_lines[{i}]"
        if not isinstance(line, dict):
            bad(key, "须为表", "must be a table")
            continue
        if not isinstance(line.get("area"), str) or not re.fullmatch(r"(\d{2}){0,3}|\d{9}|\d{12}", line["area"]):
            bad(
                f"{key}.area",
                "须为区划代码前缀（空、2、4、6、9或12位数字）",
                "must be an area-code prefix of 0/2/4/6/9/12 digits",
            )
        if not _int(line.get("year")) or not 2000 <= line["year"] <= 2100:
            bad(f"{key}.year", "须为年份", "must be a year")
        if not isinstance(line.get("yuan"), int | float) or isinstance(line.get("yuan"), bool) or line["yuan"] <= 0:
            bad(f"{key}.yuan", "须为正数（元/人·年）", "must be a positive amount (yuan per person per year)")
        if not isinstance(line.get("source"), str) or not line["source"].strip():
            bad(f"{key}.source", "须注明来源文件", "must name its source")
    if lines and not any(isinstance(x, dict) and x.get("area") == "" for x in lines):
        bad("income_lines", '须有一条全国底线（area = ""）', 'a national floor (area = "") is needed')
    measures = data.get("measures") if isinstance(data.get("measures"), dict) else {}
    for name, measure in measures.items():
        if not isinstance(measure, dict) or not all(isinstance(measure.get(k), str) for k in ("zh", "en")):
            bad(f"measures.{name}", "须有 zh 和 en 两种文字", "needs zh and en texts")
    rules = data.get("rules") if isinstance(data.get("rules"), dict) else {}
    for rule_id in sorted(set(rules) - set(RULE_IDS)):
        bad(f"rules.{rule_id}", f"未知规则，可用：{'、'.join(RULE_IDS)}", f"unknown rule; known: {', '.join(RULE_IDS)}")
    for rule_id in RULE_IDS:
        rule = rules.get(rule_id)
        key = f"rules.{rule_id}"
        if not isinstance(rule, dict):
            bad(
                key,
                "缺少该规则（可设 enabled = false 停用）",
                "the rule is missing (set enabled = false to switch it off)",
            )
            continue
        if rule.get("tier") not in TIERS:
            bad(f"{key}.tier", "须为 high 或 medium", "must be high or medium")
        if "enabled" in rule and not isinstance(rule["enabled"], bool):
            bad(f"{key}.enabled", "须为 true 或 false", "must be true or false")
        for lang in ("zh", "en"):
            template = rule.get(lang)
            if not isinstance(template, str) or not template.strip():
                bad(f"{key}.{lang}", "须为非空文本", "must be a non-empty string")
                continue
            unknown = _placeholders(template) - RULE_VALUES[rule_id]
            if unknown:
                bad(
                    f"{key}.{lang}",
                    f"文字中有未知占位符 {{{'}、{'.join(sorted(unknown))}}}",
                    f"the text uses unknown placeholders {{{'}, {'.join(sorted(unknown))}}}",
                )
        for field in MEASURE_LISTS:
            _check_measures(rule.get(field, []), measures, f"{key}.{field}", bad)
        for field, keys in MEASURE_TABLES.items():
            table = rule.get(field, {})
            if not isinstance(table, dict) or set(table) - set(keys):
                zh, en = f"须为以 {'、'.join(keys)} 为键的表", f"must be a table keyed by {', '.join(keys)}"
                bad(f"{key}.{field}", zh, en)
                continue
            for name, listed in table.items():
                _check_measures(listed, measures, f"{key}.{field}.{name}", bad)
    needs = data.get("needs", {})
    if not isinstance(needs, dict) or set(needs) - set(NEEDS):
        bad("needs", f"须为以 {'、'.join(NEEDS)} 为键的表", f"must be a table keyed by {', '.join(NEEDS)}")
    else:
        for name, listed in needs.items():
            _check_measures(listed, measures, f"needs.{name}", bad)
    return out


def _check_measures(listed: Any, measures: Mapping[str, Any], key: str, bad: Any) -> None:
    if not isinstance(listed, list) or any(m not in measures for m in listed):
        bad(key, "须为已定义措施的列表", "must list measures defined under [measures]")


def _placeholders(template: str) -> set[str]:
    try:
        return {name for _, name, _, _ in string.Formatter().parse(template) if name}
    except ValueError:
        return {"<unbalanced braces>"}


def _int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _problem(text: str, key: str, zh: str, en: str) -> Problem:
    return Problem(key, line_of(text, key), zh, en)


def line_of(text: str, key: str) -> int | None:
    """The line a dotted key (``rules.H5.zh``, ``income_lines[2].yuan``) is written on, if found."""
    parts = [p for p in re.split(r"\.(?![^\"]*\"\])", key) if p]
    path: list[tuple[str, int | None]] = []
    for part in parts:
        match = re.fullmatch(r"(.+?)\[(\d+)\]", part)
        path.append((match.group(1), int(match.group(2))) if match else (part.strip('"'), None))
    names = [name for name, _ in path]
    header: list[str] = []
    seen_arrays: dict[str, int] = {}
    best = None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        table = re.fullmatch(r"\[\[?\s*([^\]]+?)\s*\]\]?", line)
        if table:
            header = [h.strip().strip('"') for h in re.split(r"\.(?=(?:[^\"]*\"[^\"]*\")*[^\"]*$)", table.group(1))]
            if line.startswith("[["):
                joined = ".".join(header)
                seen_arrays[joined] = seen_arrays.get(joined, -1) + 1
            if _header_matches(header, path, seen_arrays):
                best = number if len(header) >= len(names) else best or number
            continue
        assign = re.match(r"\s*\"?([A-Za-z0-9_\-]+)\"?\s*=", line)
        if assign and _header_matches(header, path, seen_arrays) and len(header) < len(names):
            rest = names[len(header) :]
            if assign.group(1) == rest[0]:
                return number
    return best


def _header_matches(header: list[str], path: list[tuple[str, int | None]], arrays: dict[str, int]) -> bool:
    if len(header) > len(path):
        return False
    for i, name in enumerate(header):
        if path[i][0] != name:
            return False
        index = path[i][1]
        if index is not None and arrays.get(".".join(header[: i + 1]), -1) != index:
            return False
    return True
