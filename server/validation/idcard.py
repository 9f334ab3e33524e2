"""公民身份号码 (GB 11643-1999): 17 digits and an ISO 7064 MOD 11-2 check character.

Digits 7-14 are the birth date (YYYYMMDD), digit 17 is odd for men. Rosters use numbers starting
with ``999999`` for people without an ID number.
"""

from __future__ import annotations

import datetime as dt
import re

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK = "10X98765432"
PATTERN = re.compile(r"^[0-9]{17}[0-9X]\Z")
PLACEHOLDER = "999999"


def check_char(body: str) -> str:
    return CHECK[sum(int(d) * w for d, w in zip(body, WEIGHTS, strict=True)) % 11]


def well_formed(number: str) -> bool:
    return bool(PATTERN.match(number))


def check_digit_ok(number: str) -> bool:
    return well_formed(number) and check_char(number[:17]) == number[17]


def birth_date(number: str) -> dt.date | None:
    try:
        return dt.date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return None


def is_male(number: str) -> bool:
    return int(number[16]) % 2 == 1


def is_placeholder(number: str) -> bool:
    return number.startswith(PLACEHOLDER)
