"""Validation of submissions: pure functions from a document to a list of issues.

An issue is ``{"path", "code", "severity": "error"|"warning", "message": {"zh", "en"}, "value"}``.
Codes are stable identifiers (documented in ``CODES``); messages may be reworded freely.
"""

from __future__ import annotations

from typing import Any

ERROR = "error"
WARNING = "warning"

# code -> (zh, en) templates; ``{...}`` placeholders are filled from the issue's context.
CODES: dict[str, tuple[str, str]] = {
    # envelope: is this something we can process at all?
    "envelope.missing": ("缺少必填项 {path}", "required field {path} is missing"),
    "envelope.type": ("{path} 的类型应为{expected_zh}", "{path} must be {expected_en}"),
    "envelope.village_mismatch": (
        "village_code {value} 与所在村数据库 {village} 不一致",
        "village_code {value} does not match the village database {village}",
    ),
    "envelope.household_id": (
        '户编号 {value} 格式不对：应为本村的"{village}-4位序号"或临时编号 new-<uuid>',
        "household_id {value} is neither {village}-<4 digits> nor a provisional new-<uuid>",
    ),
    "envelope.data_mismatch": (
        "答案中的 {path} 为 {value}，与提交记录的 {expected} 不一致",
        "{path} in the answers is {value}, not the submission's {expected}",
    ),
    "household.other_village": (
        "户编号 {value} 属于另一个村，本次调查没有计入任何农户；请核对户编号，或按新户重新登记",
        "household id {value} belongs to another village: this survey was applied to no household; check the id "
        "or register the household as new",
    ),
    "form.unknown": ("未知表单 {value}", "unknown form {value}"),
    "form.version_unknown": ("表单 {form_id} 没有版本 {value}", "form {form_id} has no version {value}"),
    # structure and types (marshmallow schema generated from the form)
    "field.unknown": ("表单中没有字段 {path}", "the form has no field {path}"),
    "group.not_object": ("{path} 应为对象", "{path} must be an object"),
    "repeat.not_list": ("{path} 应为列表（重复组）", "{path} must be a list (repeat)"),
    "repeat.too_many": (
        "{path} 有 {value} 条，最多 {limit} 条；超出的部分没有检查，也不会计入",
        "{path} has {value} entries, at most {limit} are allowed; the rest was neither checked nor applied",
    ),
    "issues.truncated": (
        "另有 {value} 个问题未列出（共 {total} 个）",
        "{value} more issues are not listed ({total} in all)",
    ),
    "repeat.item_not_object": ("{path} 应为对象", "{path} must be an object"),
    "type.text": ("{path} 应为文本", "{path} must be text"),
    "type.control_characters": ("{path} 含有不可见的控制字符", "{path} contains control characters"),
    "type.binary": ("{path} 应为文件名", "{path} must be a file name"),
    "type.integer": ("{path} 应为整数：{value}", "{path} must be a whole number: {value}"),
    "type.decimal": ("{path} 应为数字：{value}", "{path} must be a number: {value}"),
    "type.date": ("{path} 应为日期（YYYY-MM-DD）：{value}", "{path} must be a date (YYYY-MM-DD): {value}"),
    "type.datetime": ("{path} 应为日期时间（ISO 8601）：{value}", "{path} must be a date-time (ISO 8601): {value}"),
    "type.time": ("{path} 应为时间（HH:MM）：{value}", "{path} must be a time (HH:MM): {value}"),
    "type.geopoint": (
        "{path} 应为“纬度 经度 [高度 [精度]]”：{value}",
        "{path} must be 'latitude longitude [altitude [accuracy]]': {value}",
    ),
    "type.select_one": ("{path} 应为一个选项值", "{path} must be one choice value"),
    "type.select_multiple": ("{path} 应为以空格分隔的选项值", "{path} must be choice values separated by spaces"),
    "type.calculate": ("{path} 应为单个值", "{path} must be a single value"),
    "choice.unknown": ("{path} 的选项不在表单选项中：{value}", "{path} has a value that is not a choice: {value}"),
    # the form's own logic (XPath)
    "required.missing": ("{path} 必填", "{path} is required"),
    "relevant.value_ignored": (
        "{path} 按表单逻辑不应填写，此值将被忽略",
        "{path} does not apply here; its value is ignored",
    ),
    "constraint.failed": ("{path}：{form_zh}", "{path}: {form_en}"),
    "expression.error": (
        "表单表达式无法计算（{what}）：{value}",
        "a form expression could not be evaluated ({what}): {value}",
    ),
    # domain rules (../shared/domain.md)
    "id.check_digit": ("{path} 身份证号校验位错误", "{path}: ID number check digit is wrong"),
    "id.invalid_birth_date": (
        "{path} 身份证号中的出生日期无效",
        "{path}: the birth date inside the ID number is invalid",
    ),
    "id.placeholder": (
        "{path} 为无证件占位号（999999开头），请核实",
        "{path}: placeholder ID (starts with 999999); please verify",
    ),
    "id.birth_date_mismatch": (
        "{path} 出生日期与身份证号不一致（身份证号为 {id_birth}）",
        "{path}: birth date does not match the ID number ({id_birth})",
    ),
    "id.sex_mismatch": ("{path} 性别与身份证号不一致", "{path}: sex does not match the ID number"),
    "id.head_mismatch": (
        "户主身份证号与成员中户主的身份证号不一致",
        "head_id_number differs from the ID number of the member who is head",
    ),
    "id.duplicate_in_household": ("{path} 身份证号在本户重复", "{path}: ID number appears twice in this household"),
    "id.duplicate_other_household": (
        "{path} 身份证号也登记在其他户：{households}{more_zh}",
        "{path}: the same ID number is registered in another household: {households}{more_en}",
    ),
    # roster import (the national system's export)
    "roster.household_id": (
        "户编号 {value} 无效（应为“12位村代码-4位序号”，或用 --village 补全的序号）",
        "household number {value} is not valid (<12-digit village code>-<4 digits>, or a number with --village)",
    ),
    "roster.other_village": (
        "户编号 {value} 不属于村 {village}",
        "household number {value} is not of village {village}",
    ),
    "roster.unknown_value": (
        "{column}的值“{value}”无法识别，可填：{accepted}",
        "{column}: the value '{value}' is not understood; accepted: {accepted}",
    ),
    "roster.id_format": (
        "证件号码 {value} 格式错误（应为18位：17位数字加校验位）",
        "ID number {value} is malformed (18 characters: 17 digits and a check character)",
    ),
    "roster.missing": ("缺少 {column}", "{column} is missing"),
    "roster.duplicate_id": (
        "证件号码 {value} 也出现在户 {households}",
        "ID number {value} also appears in household(s) {households}",
    ),
    "household.no_head": ("家庭成员中没有户主", "no member is the head of household"),
    "household.several_heads": ("家庭成员中有{count}个户主", "{count} members are marked as head of household"),
    "household.spouse_same_sex": ("{path} 配偶与户主性别相同", "{path}: spouse has the same sex as the head"),
    "member.schooling_inconsistent": (
        "{path} 6-15岁未上学，但未标记为失学辍学",
        "{path}: aged 6-15 and not in school, but not marked out of school",
    ),
    "member.child_labour": (
        "{path} 16岁以下成员劳动技能应为“无劳动力”",
        "{path}: members under 16 must have labour capacity 'none'",
    ),
    "member.disability_grade_not_disabled": (
        "{path} 只有残疾成员才填写残疾等级",
        "{path}: a disability grade is only given for disabled members",
    ),
    "member.no_medical_insurance": ("{path} 未参加基本医疗保险", "{path}: no basic medical insurance"),
    "water.risk_not_recorded": (
        "饮水不安全，但风险类型未选“因安全饮水”",
        "drinking water is not safe but risk type 'water' is not selected",
    ),
    "damage.casualties_exceed_size": (
        "死亡、失踪、受伤人数合计 {total} 超过家庭人口 {size}",
        "deaths, missing and injured ({total}) exceed household size ({size})",
    ),
}


def issue(code: str, path: str, value: Any = None, severity: str = ERROR, **context: Any) -> dict:
    zh, en = CODES[code]
    ctx = {"path": path or "data", "value": value, **context}
    return {
        "path": path,
        "code": code,
        "severity": severity,
        "message": {"zh": zh.format(**ctx), "en": en.format(**ctx)},
        "value": value,
    }


def has_errors(issues: list[dict]) -> bool:
    return any(i["severity"] == ERROR for i in issues)


def without_shadowed_warnings(issues: list[dict]) -> list[dict]:
    """Where a path has an error, its warnings add nothing: one problem, one message."""
    errored = {i["path"] for i in issues if i["severity"] == ERROR}
    return [i for i in issues if i["severity"] == ERROR or i["path"] not in errored]
