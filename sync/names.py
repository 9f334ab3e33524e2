"""Database and document naming: the sync contract tablets rely on.

The logical names (``fp_forms``, ``fp_v_<village>``) are what tablets see; the physical name
adds the deployment's prefix so that tests and several deployments can share one server.
"""

from __future__ import annotations

import re

FORMS = "fp_forms"
CASES = "fp_cases"
ACCOUNTS = "fp_accounts"
VILLAGE_PREFIX = "fp_v_"

VILLAGE_CODE = re.compile(r"^[0-9]{12}\Z")
# Roster households are <village>-<4 digits>; a tablet names a household it met first new-<uuid4>.
ROSTER_HOUSEHOLD = re.compile(r"^([0-9]{12})-[0-9]{4}\Z")
PROVISIONAL_HOUSEHOLD = re.compile(r"^new-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z")
GATEWAY_USER = "fp_gateway"
GATEWAY_ROLE = "fp_gateway"


def is_village_code(code: str) -> bool:
    return bool(VILLAGE_CODE.match(code or ""))


def is_household_id(value: object, village: str | None = None) -> bool:
    """A roster id (of ``village`` when given) or a provisional one."""
    if not isinstance(value, str):
        return False
    if PROVISIONAL_HOUSEHOLD.match(value):
        return True
    roster = ROSTER_HOUSEHOLD.match(value)
    return bool(roster) and (village is None or roster.group(1) == village)


def village_db(code: str) -> str:
    if not is_village_code(code):
        raise ValueError(f"not a 12-digit village code: {code!r}")
    return VILLAGE_PREFIX + code


def village_of(db: str) -> str | None:
    """The village code of a logical village database name, else None."""
    if db.startswith(VILLAGE_PREFIX) and is_village_code(db[len(VILLAGE_PREFIX) :]):
        return db[len(VILLAGE_PREFIX) :]
    return None


def township_of(village_code: str) -> str:
    """统计用区划代码: the first 9 digits of a village code are its township."""
    return village_code[:9]


def submission_uuid(doc_id: str) -> str | None:
    return doc_id[len("submission:") :] if doc_id.startswith("submission:") else None


def review_id(submission_doc_id: str) -> str:
    return "review:" + doc_id_suffix(submission_doc_id)


def doc_id_suffix(doc_id: str) -> str:
    return doc_id.split(":", 1)[1]
