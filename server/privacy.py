"""Masking of personal data (PIPL art. 28; the 2023 identification guide) in what the server shows.

ID numbers keep the area code and the last four characters (``500112********002X``), phones the
first three and last four digits: enough to tell records apart, not enough to use them.
"""

from __future__ import annotations

from typing import Any

ID_KEYS = frozenset({"head_id_number", "id_number"})
PHONE_KEYS = frozenset({"phone"})


def mask_id(value: Any) -> Any:
    if not isinstance(value, str) or len(value) < 10:
        return "****" if isinstance(value, str) and value else value
    return value[:6] + "*" * (len(value) - 10) + value[-4:]


def mask_phone(value: Any) -> Any:
    if not isinstance(value, str) or len(value) < 7:
        return "****" if isinstance(value, str) and value else value
    return value[:3] + "*" * (len(value) - 7) + value[-4:]


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
