"""Structural check of a submission's envelope: is this a document we can process at all?

Runs before any form-level validation. It never raises: whatever a device sends, the answer is
a list of issues, so the record is kept and shown instead of being dropped.
"""

from __future__ import annotations

from collections.abc import Mapping, Set
from typing import Any

from server.validation import issue
from sync import names

# field -> (python types accepted, zh name of the type, en name of the type)
REQUIRED: dict[str, tuple[tuple[type, ...], str, str]] = {
    "form_id": ((str,), "文本", "a string"),
    "form_version": ((str,), "文本", "a string"),
    "village_code": ((str,), "文本", "a string"),
    "household_id": ((str,), "文本", "a string"),
    "submitted_by": ((str,), "文本", "a string"),
    "completed_at": ((str,), "文本（ISO 8601 时间）", "an ISO 8601 date-time string"),
    "data": ((dict,), "对象", "an object"),
}
OPTIONAL: dict[str, tuple[tuple[type, ...], str, str]] = {
    "device_id": ((str,), "文本", "a string"),
    "started_at": ((str,), "文本（ISO 8601 时间）", "an ISO 8601 date-time string"),
    "household_base_version": ((int,), "整数", "an integer"),
    "device_seq": ((int,), "整数", "an integer"),
}


def check_envelope(doc: Mapping[str, Any], village: str, forms: Mapping[str, Set[str]]) -> list[dict]:
    """Issues with the envelope of ``doc`` stored in ``village``'s database.

    ``forms`` maps each published form id to its published versions.
    """
    issues: list[dict] = []
    for fields, required in ((REQUIRED, True), (OPTIONAL, False)):
        for name, (types, zh, en) in fields.items():
            value = doc.get(name)
            if value is None or value == "":
                if required:
                    issues.append(issue("envelope.missing", name))
            elif not isinstance(value, types) or isinstance(value, bool):
                issues.append(issue("envelope.type", name, _short(value), expected_zh=zh, expected_en=en))
    if isinstance(doc.get("village_code"), str) and doc["village_code"] != village:
        issues.append(issue("envelope.village_mismatch", "village_code", doc["village_code"], village=village))
    household = doc.get("household_id")
    own = doc["village_code"] if isinstance(doc.get("village_code"), str) else village  # one mistake, one issue
    if isinstance(household, str) and household and not names.is_household_id(household, own):
        issues.append(issue("envelope.household_id", "household_id", household, village=own))
    form_id, version = doc.get("form_id"), doc.get("form_version")
    if isinstance(form_id, str) and form_id:
        if form_id not in forms:
            issues.append(issue("form.unknown", "form_id", form_id))
        elif isinstance(version, str) and version and version not in forms[form_id]:
            issues.append(issue("form.version_unknown", "form_version", version, form_id=form_id))
    return issues


def _short(value: Any) -> Any:
    """Keep offending values small in the review doc (a device may send anything)."""
    text = repr(value)
    return value if len(text) <= 200 else text[:200] + "…"
