"""Disaster events (灾害事件), pure: a township clerk opens one (type, start date, affected
villages) and every damage survey picks an open event of its village instead of typing an id.

An event's id is ``<township>-<YYYY-MM of its start>-<disaster type>`` (``500112104-2026-11-flood``,
domain.md's example), with ``-2``, ``-3`` … for a second event of the same kind that month.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from forms.spec import current_choices
from server.households import model as households
from server.refusals import BilingualError
from sync import names


def disaster_types() -> dict[str, str]:
    """Code → Chinese name: the damage survey's own ``disaster_type`` list."""
    return {code: names_["zh"] for code, names_ in disaster_type_labels().items()}


def disaster_type_labels() -> dict[str, dict[str, str]]:
    """Code → {"zh", "en"}: the damage survey's own ``disaster_type`` list, both languages."""
    return {
        c.value: {"zh": c.label.get("zh", c.value), "en": c.label.get("en") or c.label.get("zh", c.value)}
        for c in current_choices("damage_survey", "disaster_type")
    }


class EventError(BilingualError):
    """An event that cannot be opened or closed as asked."""


def new_event_id(township: str, disaster_type: str, start: dt.date, taken: Iterable[str]) -> str:
    base = f"{township}-{start:%Y-%m}-{disaster_type}"
    used = set(taken)
    if base not in used:
        return base
    return next(f"{base}-{n}" for n in range(2, len(used) + 3) if f"{base}-{n}" not in used)


def checked(township: str, disaster_type: str, start: dt.date, villages: Iterable[str],
            registered: Iterable[str], today: dt.date) -> list[str]:  # fmt: skip
    """The affected villages, once the request is known to make sense (else EventError, both languages):
    a 9-digit township, a known disaster type, a start not in the future, villages of that township
    that are registered (none named: all its registered villages)."""
    if not (len(township) == 9 and township.isdigit()):
        raise EventError(f"乡镇代码须为9位数字：{township}", f"the township code must be 9 digits: {township}")
    if disaster_type not in disaster_types():
        raise EventError(f"未知的灾害类型：{disaster_type}", f"unknown disaster type: {disaster_type}")
    if start > today:
        raise EventError(f"灾害开始日期不能晚于今天：{start}", f"the start date is in the future: {start}")
    known = sorted(v for v in set(registered) if names.township_of(v) == township)
    wanted = sorted(set(villages)) or known
    stray = [v for v in wanted if v not in known]
    if stray:
        raise EventError(
            f"这些村不是乡镇 {township} 已登记的村：{', '.join(stray)}",
            f"not registered villages of township {township}: {', '.join(stray)}",
        )
    if not wanted:
        raise EventError(f"乡镇 {township} 还没有登记的村", f"township {township} has no registered village yet")
    return wanted


def label(event: Mapping[str, Any]) -> str:
    """How a worker recognises it in the list: start date, type, and a name if it has one."""
    kind = disaster_types().get(event.get("disaster_type", ""), event.get("disaster_type", ""))
    name = event.get("name") or ""
    return " ".join(part for part in (event.get("start_date", ""), kind, name) if part)


# -- per event and village: who is surveyed, who not yet, and the damage roll-up ---------------
def surveyed_version(record: Mapping[str, Any], event_id: str) -> int | None:
    """The household's version made by its latest damage survey for ``event_id`` (None: not yet)."""
    active = {e["id"] for e in households.active_events(record.get("events", []), record.get("rejected"))}
    versions = [
        e["version"]
        for e in record.get("events", [])
        if e["id"] in active
        and e.get("form_id") == "damage_survey"
        and (e.get("disaster_event_id") or (e.get("changed") or {}).get("event_id")) == event_id
    ]
    return max(versions) if versions else None


ROLLUP = ("surveyed", "houses_collapsed", "houses_severe", "rooms_collapsed", "rooms_severe", "rooms_minor",
          "people_relocated", "deaths", "missing", "injured_serious", "injured_minor", "direct_loss_yuan")  # fmt: skip


def coverage(event: Mapping[str, Any], records: Iterable[Mapping[str, Any]]) -> dict[str, dict]:
    """Per affected village: the roster's households surveyed for the event and not yet
    (`001_…` "不漏一户一人"), and the damage totals for the 应急 office (`000_…` "同时报送经发办和应急办"),
    each household counted once, with the facts of its latest survey for this event."""
    out = {v: {"households": 0, "not_yet": [], **dict.fromkeys(ROLLUP, 0)} for v in event["villages"]}
    for record in records:
        row = out.get(record.get("village_code", ""))
        if row is None or record.get("merged_into"):
            continue
        row["households"] += 1
        version = surveyed_version(record, event["event_id"])
        if version is None:
            row["not_yet"].append(record["household_id"])
            continue
        facts = households.snapshot(record, record["household_id"], version)
        row["surveyed"] += 1
        row["houses_collapsed"] += facts.get("house_damage") == "collapsed"
        row["houses_severe"] += facts.get("house_damage") == "severe"
        for key in ("rooms_collapsed", "rooms_severe", "rooms_minor", "deaths", "missing", "injured_serious",
                    "injured_minor", "direct_loss_yuan"):  # fmt: skip
            row[key] += _count(facts.get(key))
        if facts.get("relocated") not in (None, "", "none"):
            members = facts.get("members")
            row["people_relocated"] += len(members) if isinstance(members, list) and members else 1
    for row in out.values():
        row["not_yet"].sort()
        row["direct_loss_yuan"] = round(row["direct_loss_yuan"], 2)
    return out


def survey_task(event: Mapping[str, Any]) -> dict:
    """A tablet task for a household of an affected village not yet surveyed for an open event."""
    when = event.get("start_date", "")
    return {
        "kind": "survey",
        "event_id": event["event_id"],
        "zh": f"灾情摸排：{label(event)}，本户尚未调查",
        "en": f"damage survey for the {when} event: not yet surveyed",
        "due": None,
    }


def _count(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0
    return max(value, 0)
