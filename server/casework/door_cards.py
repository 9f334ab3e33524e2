"""What a household is called in the field: its door card's number and head, and the QR on it.

One content for the door card, the field app and the forms' household list, so a worker who scans
the card or picks from the list lands on the same household. ID numbers are never part of it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sync import names

QR_PREFIX = "fangpin:household:"  # a door card's QR: fangpin:household:<household id>


def qr_content(household_id: str) -> str:
    return QR_PREFIX + household_id


def house_number(household_id: str) -> str:
    """The 4-digit sequence of a roster household; a provisional (``new-…``) one has none yet."""
    return household_id.rsplit("-", 1)[-1] if names.ROSTER_HOUSEHOLD.match(household_id) else "—"


def entries(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, str]]:
    """A village's households as a card shows them, in id order: id, number, head's name, village."""
    return [
        {
            "id": row["id"],
            "number": house_number(row["id"]),
            "head": row.get("head_name") or "",
            "village": row.get("village_code") or "",
        }
        for row in sorted(rows, key=lambda r: r["id"])
    ]
