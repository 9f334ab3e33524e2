"""Masking of personal data (PIPL art. 28; the 2023 identification guide) in what the server shows.

ID numbers keep the area code and the last four characters (``500112********002X``), phones the
first three and last four digits: enough to tell records apart, not enough to use them.
"""

from __future__ import annotations

import json
from typing import Any

ID_KEYS = frozenset({"head_id_number", "id_number"})
PHONE_KEYS = frozenset({"phone"})


def mask_id(value: Any) -> Any:
    return _mask(value, 6, 10)


def mask_phone(value: Any) -> Any:
    return _mask(value, 3, 7)


def _mask(value: Any, head: int, shown: int) -> Any:
    """Keep ``head`` leading and ``shown - head`` trailing characters. Whatever the value's type: a
    phone a device sent as a JSON number was shown whole."""
    if value is None or value == "":
        return value
    if isinstance(value, (list, dict)):
        return "****"
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    if len(text) < shown:
        return "****"
    return text[:head] + "*" * (len(text) - shown) + text[len(text) - (shown - head) :]


def masked(value: Any) -> Any:
    """A copy of ``value`` (any JSON) with every ID number and phone number masked."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if key in ID_KEYS:
                out[key] = mask_id(item)
            elif key in PHONE_KEYS:
                out[key] = mask_phone(item)
            else:
                out[key] = masked(item)
        return out
    if isinstance(value, list):
        return [masked(item) for item in value]
    return value
