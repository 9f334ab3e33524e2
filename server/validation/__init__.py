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
    "envelope.missing": ("缺少必填项 {path}", "required field {path} is missing"),
    "envelope.type": ("{path} 的类型应为{expected_zh}", "{path} must be {expected_en}"),
    "envelope.village_mismatch": (
        "village_code {value} 与所在村数据库 {village} 不一致",
        "village_code {value} does not match the village database {village}",
    ),
    "form.unknown": ("未知表单 {value}", "unknown form {value}"),
    "form.version_unknown": ("表单 {form_id} 没有版本 {value}", "form {form_id} has no version {value}"),
}


def issue(code: str, path: str, value: Any = None, severity: str = ERROR, **context: Any) -> dict:
    zh, en = CODES[code]
    ctx = {"path": path, "value": value, **context}
    return {
        "path": path,
        "code": code,
        "severity": severity,
        "message": {"zh": zh.format(**ctx), "en": en.format(**ctx)},
        "value": value,
    }


def has_errors(issues: list[dict]) -> bool:
    return any(i["severity"] == ERROR for i in issues)
