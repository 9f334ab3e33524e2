"""Form media made for the person asking: the lists a survey picks from instead of typing.

ODK Collect downloads every file of a form's manifest and keeps it while the md5 stays the same,
so each list is made from the server's current data for the signed-in user and its md5 changes
exactly when its content does. A list holds only the user's own villages (a grid worker's, or a
clerk's township), never an ID number:

* ``villages.csv`` — ``name`` (village code), ``label`` (village name);
* ``households.csv`` — ``name`` (household id), ``label`` (house number and head's name, what the
  door card shows), ``village`` (for the form's ``choice_filter``), ``number``, ``head_name``; and
  for the household survey's prefill (release 2026120105) ``version`` (the survey's
  ``household_base_version``), ``category``, ``phone_masked`` and the household's conditions and
  incomes (``readmodel.PREFILL``);
* ``household_members.csv`` — one row per member on record: ``name`` (``<household id>#<position>``, what the
  form looks up for each member entry, and what the damage survey's casualties pick), ``label`` (the
  member's name), ``household``, ``n``, and ``member_name``, ``sex``,
  ``relation``, ``birth_date``, ``labour``, ``school``, ``medical_insurance`` (never an ID number,
  health or disability); a relation of the older list (``child``, …) is left for the worker to pick;
* ``events.csv`` — the open disaster events of the user's villages, one row per event and village:
  ``name`` (event id), ``label`` (start date, type, name), ``village`` (for the ``choice_filter``),
  ``disaster_type``, ``start_date``.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from forms.spec import current_choices
from server.access.accounts import User, Village
from server.casework import door_cards, events
from server.pipeline.readmodel import MEMBER_PREFILL, PREFILL

FILES = ("villages.csv", "households.csv", "household_members.csv", "events.csv")  # what make() makes
MEMBER_COLUMNS = ("member_name", *(k for k in MEMBER_PREFILL if k != "name"))


def _csv(header: list[str], rows: Iterable[list[str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


def _cell(value: Any) -> str:
    """As the worker would type it: 12000, not 12000.0."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def villages_csv(villages: Iterable[Village]) -> bytes:
    return _csv(["name", "label"], ([v.code, v.name] for v in sorted(villages, key=lambda v: v.code)))


PREFILLED = ("version", "category", "phone_masked", *PREFILL)


def households_csv(rows: Iterable[Mapping[str, Any]]) -> bytes:
    rows = list(rows)
    by_id = {row["id"]: row for row in rows}

    def known(card: dict[str, str]) -> list[str]:
        row = by_id[card["id"]]
        values = {"version": row.get("version"), "category": row.get("category"), **(row.get("prefill") or {})}
        return [_cell(values.get(k)) for k in PREFILLED]

    return _csv(
        ["name", "label", "village", "number", "head_name", *PREFILLED],
        (
            [c["id"], f"{c['number']} {c['head']}".strip(), c["village"], c["number"], c["head"], *known(c)]
            for c in door_cards.entries(rows)
        ),
    )


def members_csv(rows: Iterable[Mapping[str, Any]]) -> bytes:
    relations = {c.value for c in current_choices("household_survey", "members/relation")}

    def cells(household: str, n: int, member: Mapping[str, Any]) -> list[str]:
        known = {**member, "member_name": member.get("name")}
        if known.get("relation") not in relations:  # of an older list: the worker picks it again
            known.pop("relation", None)
        label = _cell(known.get("member_name"))
        return [f"{household}#{n}", label, household, str(n), *(_cell(known.get(k)) for k in MEMBER_COLUMNS)]

    return _csv(
        ["name", "label", "household", "n", *MEMBER_COLUMNS],
        (
            cells(row["id"], n, member)
            for row in sorted(rows, key=lambda r: r["id"])
            for n, member in enumerate(row.get("members_prefill") or [], start=1)
        ),
    )


def events_csv(open_events: Iterable[tuple[Mapping[str, Any], str]]) -> bytes:
    return _csv(
        ["name", "label", "village", "disaster_type", "start_date"],
        ([e["event_id"], events.label(e), village, e["disaster_type"], e["start_date"]] for e, village in open_events),
    )


def make(
    name: str,
    user: User,
    villages: list[Village],
    household_rows: Callable[[list[str]], list[Mapping[str, Any]]],
    open_events: Callable[[list[str]], list[tuple[dict, str]]],
) -> bytes:
    """One generated file (a name of ``FILES``) for ``user`` (``villages``: all registered;
    ``household_rows``: the read model's rows of the given villages; ``open_events``: the open
    events of the given villages, with each village)."""
    own = [v for v in villages if user.sees_village(v.code)]
    if name == "villages.csv":
        return villages_csv(own)
    if name == "events.csv":
        return events_csv(open_events([v.code for v in own]))
    rows = household_rows([v.code for v in own])
    return members_csv(rows) if name == "household_members.csv" else households_csv(rows)


def md5(content: bytes) -> str:
    return hashlib.md5(content).hexdigest()
