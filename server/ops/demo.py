"""Demo township for newcomers: three villages, their grid workers, a clerk, an admin, a roster,
and an open flood (the event the damage survey's list offers).

All names and ID numbers are invented (the ID numbers carry valid check digits so that they pass
validation). Loading twice changes nothing.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator

from server.access.accounts import add_area, add_user, add_village
from server.pipeline import event_store, household_store
from server.validation import idcard
from sync import bootstrap
from sync.clock import utc_now
from sync.embedded import Connection

TOWNSHIP = "500112104"
AREAS = [(TOWNSHIP[:6], "渝北区"), (TOWNSHIP, "大盛镇")]
VILLAGES = [("500112104201", "石坪村"), ("500112104202", "龙井村"), ("500112104203", "大湾村")]
PASSWORD = "fangpin-demo"
FLOOD_START = dt.date(2025, 7, 3)
USERS = [  # name, role, villages, township; the county account's county is the township's
    ("gw_wang", "field", ["500112104201"], None),
    ("gw_li", "field", ["500112104202", "500112104203"], None),
    ("clerk_zhang", "clerk", [], TOWNSHIP),
    ("cun_shiping", "village", ["500112104201"], None),
    ("xian_yubei", "county", [], None),
    ("admin", "admin", [], None),
]
SURNAMES = "王李张刘陈杨黄赵周吴徐孙马胡朱郭何罗高林"
GIVEN = ["建国", "秀英", "桂兰", "志强", "国华", "丽娟", "德明", "玉珍", "永红", "海燕", "长生", "春梅"]


def id_number(area: str, birth: str, serial: int) -> str:
    """A GB 11643 number with a correct ISO 7064 MOD 11-2 check character."""
    body = f"{area}{birth}{serial:03d}"
    return body + idcard.check_char(body)


def roster(village: str, count: int, rng: random.Random) -> dict[str, dict]:
    """Household id -> roster properties, as the national system's export would give them."""
    households = {}
    for seq in range(1, count + 1):
        year = rng.randint(1950, 1990)
        birth = f"{year}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
        households[f"{village}-{seq:04d}"] = {
            "head_name": rng.choice(SURNAMES) + rng.choice(GIVEN),
            "head_id_number": id_number(village[:6], birth, rng.randint(100, 999)),
            "category": rng.choice(["lifted", "monitored", "ordinary", "ordinary"]),
        }
    return households


def load_demo(conn: Connection, households_per_village: int = 12) -> Iterator[str]:
    rng = random.Random(20250703)
    for code, name in AREAS:
        add_area(conn.admin, code, name, actor="demo")
        yield f"area {code} {name}"
    for code, name in VILLAGES:
        add_village(conn.admin, code, name, actor="demo")
        bootstrap.ensure_village_db(conn, code)
        households = roster(code, households_per_village, rng)
        new = household_store.add_roster(conn.admin, code, households, utc_now())
        yield f"village {code} {name}: {new} new roster households ({len(households)} in all)"
    for user, role, villages, township in USERS:
        county = TOWNSHIP[:6] if role == "county" else None
        add_user(conn.admin, user, PASSWORD, role, villages, township, actor="demo", county=county)
        yield f"user {user} ({role}) password {PASSWORD}"
    event, _ = event_store.open_event(conn.admin, TOWNSHIP, "flood", FLOOD_START, [], "demo", FLOOD_START, "7·3 洪涝")
    yield f"event {event['event_id']} open for {', '.join(event['villages'])}"
