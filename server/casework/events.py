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
from server.refusals import BilingualError
from sync import names


def disaster_types() -> dict[str, str]:
    """Code → Chinese name: the damage survey's own ``disaster_type`` list."""
    return {c.value: c.label.get("zh", c.value) for c in current_choices("damage_survey", "disaster_type")}


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
