"""Which household a submission is about, and which households may be the same one.

Pure: :class:`Index` is plain data the worker fills from a CouchDB view over ``fp_cases`` and
keeps up to date while it applies a batch, so two surveys of one new household in the same batch
find each other.

Matching order (issue 4): the household id when it is known; else the head's valid ID number;
else village + normalised head name + the same set of member ID numbers; else a new household.

A survey of village V only ever changes households of V (issue 14): an id known in another village
is refused (a provisional id belongs to the village that first used it), and a head or member ID
number found in another village makes a *possible move* flagged on both records, never a match.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from server.households.model import index_entry
from server.validation import idcard  # a pure leaf module: the one GB 11643 implementation

OTHER_VILLAGE = "other_village"
POSSIBLE_MOVE = "possible_move"


def valid_id_number(number: Any) -> bool:
    """GB 11643 with a correct check character, and not an imported ``999999`` placeholder."""
    return isinstance(number, str) and idcard.check_digit_ok(number) and not idcard.is_placeholder(number)


@dataclass
class Entry:
    village: str
    head_id: str | None
    name_key: str | None
    member_ids: tuple[str, ...]


@dataclass
class Index:
    """Households by id, by head ID number and by village + name; aliases point at survivors."""

    entries: dict[str, Entry] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)
    by_head: dict[str, set[str]] = field(default_factory=dict)
    by_name: dict[tuple[str, str], set[str]] = field(default_factory=dict)
    by_member: dict[str, set[str]] = field(default_factory=dict)
    # (village, first character, length) -> names; similar names are looked for within these blocks
    # only (a typo in the surname is not found: the price of not comparing every pair in a village)
    names_by_block: dict[tuple[str, str, int], set[str]] = field(default_factory=dict)

    def put(self, household: str, village: str, entry: Mapping[str, Any] | None) -> None:
        """Record (or replace) what a household looks like; None for a merged-away household."""
        self.remove(household)
        if entry is None:
            return
        new = Entry(village, entry.get("head_id"), entry.get("name_key"), tuple(entry.get("member_ids") or ()))
        self.entries[household] = new
        if new.head_id:
            self.by_head.setdefault(new.head_id, set()).add(household)
        if new.name_key:
            self.by_name.setdefault((village, new.name_key), set()).add(household)
            self.names_by_block.setdefault(_block(village, new.name_key), set()).add(new.name_key)
        for member in new.member_ids:
            self.by_member.setdefault(member, set()).add(household)

    def remove(self, household: str) -> None:
        old = self.entries.pop(household, None)
        if old is None:
            return
        if old.head_id:
            self.by_head.get(old.head_id, set()).discard(household)
        if old.name_key:
            self.by_name.get((old.village, old.name_key), set()).discard(household)
        for member in old.member_ids:
            self.by_member.get(member, set()).discard(household)

    def alias(self, alias: str, household: str) -> None:
        self.aliases[alias] = household

    def canonical(self, household: str) -> str | None:
        """The household an id stands for now (following links and merges), or None if unknown."""
        seen = set()
        while household in self.aliases and household not in seen:
            seen.add(household)
            household = self.aliases[household]
        return household if household in self.entries else None

    def households_with_id(self, number: str, village: str) -> set[str]:
        """Households of ``village`` that list ``number`` as a member or head (the "same ID elsewhere"
        warning: a review is read by the village's tablets, so it names no household of another)."""
        found = self.by_member.get(number, set()) | self.by_head.get(number, set())
        return {h for h in found if self.entries[h].village == village}


def match(household_id: str, village: str, submitted: Mapping[str, Any], index: Index) -> tuple[str | None, str]:
    """(household to apply the submission to, how it was found: known|head_id|name_members|new), or
    (None, "other_village") when the id names a household of another village."""
    known = index.canonical(household_id)
    if known:
        return (known, "known") if index.entries[known].village == village else (None, OTHER_VILLAGE)
    entry = index_entry(submitted)
    head = entry["head_id"]
    if valid_id_number(head):
        found = sorted(h for h in index.by_head.get(head, set()) if index.entries[h].village == village)
        if found:
            return found[0], "head_id"
    if entry["name_key"] and entry["member_ids"]:
        members = tuple(entry["member_ids"])
        found = sorted(
            h for h in index.by_name.get((village, entry["name_key"]), set()) if index.entries[h].member_ids == members
        )
        if found:
            return found[0], "name_members"
    return household_id, "new"


def possible_duplicates(household: str, index: Index) -> list[tuple[str, str]]:
    """Households that may be this one: same valid head ID, similar head name in the village, or a
    member's valid ID number listed in another household too; found in another village, any of
    these is a ``possible_move`` (moved house, or one of the two records is wrong)."""
    me = index.entries.get(household)
    if me is None:
        return []
    found: dict[str, str] = {}
    if valid_id_number(me.head_id):
        for other in index.by_head.get(me.head_id or "", set()):
            found.setdefault(other, "same_head_id")
    if me.name_key:
        village, surname, length = _block(me.village, me.name_key)
        blocks = [index.names_by_block.get((village, surname, n), set()) for n in (length - 1, length, length + 1)]
        for name in sorted(set().union(*blocks)):
            if not similar_names(name, me.name_key):
                continue
            for other in index.by_name.get((me.village, name), set()):
                theirs = index.entries[other].head_id
                if theirs and me.head_id and theirs != me.head_id:
                    continue  # two valid, different head IDs: different people with one name
                found.setdefault(other, "similar_head_name")
    for member in me.member_ids:  # the "same ID in two households" warning, raised on both records
        if valid_id_number(member):
            for other in index.by_member.get(member, set()) | index.by_head.get(member, set()):
                found.setdefault(other, "shared_member_id")
    found.pop(household, None)
    return sorted((o, r if index.entries[o].village == me.village else POSSIBLE_MOVE) for o, r in found.items())


def _block(village: str, name: str) -> tuple[str, str, int]:
    return village, name[:1], len(name)


def similar_names(a: str, b: str) -> bool:
    """Equal, or (for names of three or more characters) one edit apart: 王秀英 / 王秀瑛."""
    if a == b:
        return True
    if min(len(a), len(b)) < 3 or abs(len(a) - len(b)) > 1:
        return False
    return _edit_distance_at_most_one(a, b)


def _edit_distance_at_most_one(a: str, b: str) -> bool:
    if len(a) > len(b):
        a, b = b, a
    i = j = edits = 0
    while i < len(a) and j < len(b):
        if a[i] == b[j]:
            i += 1
            j += 1
            continue
        edits += 1
        if edits > 1:
            return False
        if len(a) == len(b):
            i += 1
        j += 1
    return edits + (len(b) - j) + (len(a) - i) <= 1


def build(rows: Iterable[Mapping[str, Any]]) -> Index:
    """An index from household records (``fp_cases`` docs or view values)."""
    index = Index()
    for row in rows:
        if row.get("merged_into"):
            index.alias(row["household_id"], row["merged_into"])
            continue
        index.put(row["household_id"], row["village_code"], row.get("index"))
        for alias in row.get("aliases", []):
            index.alias(alias, row["household_id"])
    return index
