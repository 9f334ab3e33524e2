"""The dashboard's numbers, from read-model rows (pure: rows in, plain data out)."""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from server.casework.review import STATES, TODO

TIERS = ("high", "medium", "low", "none")


def overdue(row: Mapping[str, Any], today: dt.date | str) -> bool:
    """Past a deadline still owed: the identification's until the county approves (or a measure
    review's until it is recorded), else a medium tier's follow-up visit until a survey after the
    flag shows the household was visited."""
    day = today if isinstance(today, str) else today.isoformat()
    if row.get("identification"):
        return bool(row.get("ident_overdue_after")) and row["ident_overdue_after"] < day
    deadline = row.get("deadline")
    return bool(row.get("tier") == "medium" and deadline and deadline < day and not row.get("followed_up"))


def village_table(
    villages: Iterable[Any], households: Iterable[Mapping], reviews: Iterable[Mapping], today: dt.date
) -> tuple[list[dict], dict]:
    """One row per village (households by tier, submissions by state, conflicts, duplicates, overdue)."""

    def blank(code: str, name: str | None) -> dict:
        return {
            "code": code,
            "name": name,
            "households": 0,
            "tiers": dict.fromkeys(TIERS, 0),
            "states": dict.fromkeys(STATES, 0),
            "submissions": 0,
            "conflicts": 0,
            "duplicates": 0,
            "overdue": 0,
            "provisional": 0,
            "todo": 0,
        }

    rows = {v.code: blank(v.code, v.name) for v in villages}
    day = today.isoformat()
    for h in households:
        row = rows.get(h["village_code"])
        if row is None:
            continue
        row["households"] += 1
        row["tiers"][h.get("tier") or "none"] += 1
        row["conflicts"] += 1 if h.get("conflict") else 0
        row["duplicates"] += h.get("duplicates") or 0
        row["overdue"] += 1 if overdue(h, day) else 0
        row["provisional"] += 1 if h.get("tier") and h.get("provisional") else 0
    for r in reviews:
        row = rows.get(r["village_code"])
        if row is not None and r.get("state") in row["states"]:
            row["states"][r["state"]] += 1
            row["submissions"] += 1
            row["todo"] += 1 if r["state"] in TODO else 0
    totals = blank("", None)
    for row in rows.values():
        for key in ("households", "submissions", "conflicts", "duplicates", "overdue", "provisional", "todo"):
            totals[key] += row[key]
        for group in ("tiers", "states"):
            for key, value in row[group].items():
                totals[group][key] += value
    return list(rows.values()), totals


def arrivals(reviews: Iterable[Mapping], today: dt.date, days: int = 30) -> list[tuple[str, int]]:
    """Submissions received per day (Beijing time) over the last ``days`` days, oldest first."""
    first = today - dt.timedelta(days=days - 1)
    counts = Counter(r.get("received_day") for r in reviews)
    return [((first + dt.timedelta(days=i)).isoformat(), counts[(first + dt.timedelta(days=i)).isoformat()])
            for i in range(days)]  # fmt: skip


def scatter(
    households: Iterable[Mapping], width: int = 640, height: int = 360, pad: int = 16, cell: int = 10
) -> list[dict]:
    """Households with a location (``latlon``, parsed once by the read model) as dots of a
    ``width`` × ``height`` plot (north up), by tier.

    Households closer than ``cell`` pixels share one dot, coloured by the highest tier among them
    and sized by how many they are, so a township of 50,000 stays a page of a few thousand dots.
    """
    points = [(h["latlon"], h.get("tier") or "none", h["id"]) for h in households if h.get("latlon")]
    if not points:
        return []
    lat_lo, lat_hi = min(p[0][0] for p in points), max(p[0][0] for p in points)
    lon_lo, lon_hi = min(p[0][1] for p in points), max(p[0][1] for p in points)
    span_lat, span_lon = max(lat_hi - lat_lo, 1e-6), max(lon_hi - lon_lo, 1e-6)
    cells: dict[tuple[int, int], dict] = {}
    for (lat, lon), tier, hid in points:
        x = pad + (lon - lon_lo) / span_lon * (width - 2 * pad)
        y = pad + (lat_hi - lat) / span_lat * (height - 2 * pad)
        dot = cells.setdefault((int(x // cell), int(y // cell)), {"x": round(x, 1), "y": round(y, 1), "tier": tier,
                                                                    "id": hid, "count": 0})  # fmt: skip
        dot["count"] += 1
        if RANK[tier] < RANK[dot["tier"]]:
            dot.update(tier=tier, id=hid)
    for dot in cells.values():
        dot["r"] = round(min(3 + math.log2(dot["count"]), 9), 1)
    return sorted(cells.values(), key=lambda d: -RANK[d["tier"]])  # the highest tiers drawn last, on top


RANK = {"high": 0, "medium": 1, "low": 2, "none": 3}
