"""The household model: versions, soft/hard conflicts, device order, resolutions, merges (pure)."""

from __future__ import annotations

import copy
import itertools
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from server.households import matching
from server.households import model as hh

VILLAGE = "500112104201"
HID = f"{VILLAGE}-0001"
ROSTER = {"head_name": "王秀英", "phone": "13800138000", "category": "lifted", "housing_grade": "B"}
AT = "2026-11-22T08:00:00Z"


def roster_record() -> dict:
    return hh.new_record(HID, VILLAGE, ROSTER, "roster", AT)


def sub(uuid: str, device: str, seq: int, base: int, completed: str, rev: str = "1-a", household: str = HID) -> dict:
    return {
        "_id": f"submission:{uuid}",
        "_rev": rev,
        "form_id": "household_survey",
        "household_id": household,
        "household_base_version": base,
        "submitted_by": f"gw_{device}",
        "device_id": device,
        "device_seq": seq,
        "completed_at": completed,
    }


def apply(record: dict, doc: dict, values: dict) -> dict | None:
    return hh.apply_submission(record, doc, values, AT)


def test_fast_forward_records_only_what_changed():
    record = roster_record()
    event = apply(record, sub("s1", "t1", 1, 0, "2026-11-20T09:00:00+08:00"), {**ROSTER, "phone": "13900139000"})
    assert event["changed"] == {"phone": "13900139000"} and event["previous"] == {"phone": "13800138000"}
    assert record["version"] == 1 and record["conflict"] is None
    assert record["properties"] == {**ROSTER, "phone": "13900139000"}
    assert apply(record, sub("s1", "t1", 1, 0, "2026-11-20T09:00:00+08:00"), {"phone": "x"}) is None  # idempotent
    assert record["version"] == 1


def test_disjoint_concurrent_edits_are_a_soft_conflict_and_both_survive():
    record = roster_record()
    apply(record, sub("s1", "t1", 1, 0, "2026-11-20T09:00:00+08:00"), {"phone": "13900139000"})
    apply(record, sub("s2", "t2", 1, 0, "2026-11-20T10:00:00+08:00"), {"housing_grade": "C"})
    assert record["conflict"] == "soft" and record["conflicting_properties"] == []
    assert record["properties"]["phone"] == "13900139000" and record["properties"]["housing_grade"] == "C"


def test_same_property_changed_on_two_devices_is_hard_and_later_completion_wins():
    record = roster_record()
    apply(record, sub("s2", "t2", 1, 0, "2026-11-20T10:00:00+08:00"), {"phone": "13700137000", "category": "monitored"})
    apply(record, sub("s1", "t1", 1, 0, "2026-11-20T09:00:00+08:00"), {"phone": "13900139000", "category": "monitored"})
    assert record["conflict"] == "hard" and record["conflicting_properties"] == ["phone"]  # same category: no clash
    assert record["properties"]["phone"] == "13700137000"
    assert {e["changed"]["phone"] for e in record["events"]} == {"13700137000", "13900139000"}  # nothing lost


def test_a_devices_later_survey_arriving_first_is_ordered_by_its_sequence_not_flagged():
    record = roster_record()
    # Clock of tablet t1 is wrong: its second survey claims an earlier time. Its sequence decides.
    apply(record, sub("s2", "t1", 2, 0, "2026-11-19T08:00:00+08:00"), {"phone": "13700137000"})
    apply(record, sub("s1", "t1", 1, 0, "2026-11-20T09:00:00+08:00"), {"phone": "13900139000"})
    assert record["conflict"] is None
    assert record["properties"]["phone"] == "13700137000"


def test_an_edit_based_on_the_current_version_wins_without_conflict():
    record = roster_record()
    apply(record, sub("s1", "t1", 1, 0, "2026-11-20T09:00:00+08:00"), {"phone": "13900139000"})
    apply(record, sub("s2", "t2", 1, 1, "2026-11-19T09:00:00+08:00"), {"phone": "13700137000"})
    assert record["conflict"] is None and record["properties"]["phone"] == "13700137000"


def test_resolution_settles_what_the_clerk_saw_and_a_late_concurrent_survey_flags_again():
    record = roster_record()
    apply(record, sub("s1", "t1", 1, 0, "2026-11-20T09:00:00+08:00"), {"phone": "13900139000"})
    apply(record, sub("s2", "t2", 1, 0, "2026-11-20T10:00:00+08:00"), {"phone": "13700137000"})
    hh.resolve(record, {"phone": "13900139000"}, "clerk", "2026-11-21T08:00:00Z", "resolution:r1")
    assert record["conflict"] is None and record["properties"]["phone"] == "13900139000"
    assert record["version"] == 3
    apply(record, sub("s3", "t3", 1, 0, "2026-11-20T11:00:00+08:00"), {"phone": "13600136000"})
    assert record["conflict"] == "hard" and record["conflicting_properties"] == ["phone"]
    apply(record, sub("s4", "t1", 2, 4, "2026-11-22T09:00:00+08:00"), {"phone": "13500135000"})
    assert record["properties"]["phone"] == "13500135000"


def test_latest_completed_revision_of_a_submission_is_the_one_that_counts():
    record = roster_record()
    apply(record, sub("s1", "t1", 1, 0, "2026-11-20T09:00:00+08:00"), {"phone": "13900139000"})
    edited = sub("s1", "t1", 1, 0, "2026-11-21T09:00:00+08:00", rev="2-b")
    apply(record, edited, {"phone": "13700137000"})
    assert record["version"] == 2 and record["conflict"] is None
    assert record["properties"]["phone"] == "13700137000"
    # the losing branch of a revision conflict (earlier completion) arrives last: it is kept, not used
    apply(record, sub("s1", "t9", 1, 0, "2026-11-20T12:00:00+08:00", rev="2-c"), {"phone": "13600136000"})
    assert record["properties"]["phone"] == "13700137000" and len(record["events"]) == 3


def test_base_ahead_of_the_server_is_clamped_and_noted():
    record = roster_record()
    event = apply(record, sub("s1", "t1", 1, 7, "2026-11-20T09:00:00+08:00"), {"phone": "13900139000"})
    assert event["base_version"] == 0 and event["base_ahead"] is True


def test_invalid_answers_never_enter_the_record():
    data = {"household_id": HID, "phone": "123", "members": [{"name": "x"}], "category": "lifted", "notes": None}
    issues = [
        {"path": "phone", "severity": "error"},
        {"path": "members[1]/id_number", "severity": "error"},
        {"path": "category", "severity": "warning"},
    ]
    assert hh.submitted_properties(data, issues) == {"category": "lifted"}


def test_merge_keeps_both_histories_and_resolves_the_aliases():
    a = roster_record()
    apply(a, sub("s1", "t1", 1, 0, "2026-11-20T09:00:00+08:00"), {"phone": "13900139000"})
    new_id = "new-0b8f4c1e-1f7a-4c1e-9a1e-0b8f4c1e1f7a"
    b = hh.new_record(new_id, VILLAGE, None, "field", AT)
    apply(b, sub("s2", "t2", 1, 0, "2026-11-20T10:00:00+08:00", household=new_id), {"housing_grade": "D"})
    hh.merge(a, b, "clerk", "2026-11-21T08:00:00Z", "merge:m1")
    assert b["merged_into"] == HID and b["index"] is None and len(b["events"]) == 1
    assert {e["id"] for e in a["events"]} >= {e["id"] for e in b["events"]}
    assert a["properties"]["phone"] == "13900139000" and a["properties"]["housing_grade"] == "D"
    assert a["aliases"] == [new_id] and a["conflict"] is None
    # a tablet that still has the provisional household at version 1 edits it: measured against that
    event = apply(a, sub("s3", "t2", 2, 1, "2026-11-22T10:00:00+08:00", household=new_id), {"housing_grade": "D"})
    assert event["changed"] == {} and a["conflict"] is None


# -- matching --------------------------------------------------------------------------------
HEAD = "11010519491231002X"


def test_matching_order_known_then_head_id_then_name_and_members_then_new():
    index = matching.Index()
    index.put(HID, VILLAGE, {"head_id": HEAD, "name_key": "王秀英", "member_ids": [HEAD]})
    index.put(f"{VILLAGE}-0002", VILLAGE, {"head_id": None, "name_key": "李长生", "member_ids": ["1", "2"]})
    new = "new-0b8f4c1e-1f7a-4c1e-9a1e-0b8f4c1e1f7a"
    assert matching.match(HID, VILLAGE, {}, index) == (HID, "known")
    assert matching.match(new, VILLAGE, {"head_id_number": HEAD}, index) == (HID, "head_id")
    assert matching.match(new, VILLAGE, {"head_id_number": "999999194912310020"}, index) == (new, "new")
    members = {"head_name": " 李 长生", "members": [{"id_number": "2"}, {"id_number": "1"}]}
    assert matching.match(new, VILLAGE, members, index) == (f"{VILLAGE}-0002", "name_members")
    assert matching.match(new, "500112104202", members, index) == (new, "new")
    index.alias(new, HID)
    assert matching.match(new, VILLAGE, {}, index) == (HID, "known")


def test_possible_duplicates_same_head_id_or_similar_name_in_the_village():
    index = matching.Index()
    index.put("a", VILLAGE, {"head_id": HEAD, "name_key": "王秀英", "member_ids": []})
    index.put("b", "500112104202", {"head_id": HEAD, "name_key": "张三丰", "member_ids": []})
    index.put("c", VILLAGE, {"head_id": None, "name_key": "王秀瑛", "member_ids": []})
    index.put("d", VILLAGE, {"head_id": "110105194801010032", "name_key": "王秀英", "member_ids": []})
    index.put("e", VILLAGE, {"head_id": None, "name_key": "王伟", "member_ids": []})
    # in another village the same head ID is a possible move (issue 14), in this one a duplicate
    assert matching.possible_duplicates("a", index) == [("b", "possible_move"), ("c", "similar_head_name")]
    index.put("h", VILLAGE, {"head_id": HEAD, "name_key": "刘备", "member_ids": []})
    assert ("h", "same_head_id") in matching.possible_duplicates("a", index)
    index.remove("h")
    spouse = "110105194801010032"
    index.put("f", "500112104203", {"head_id": None, "name_key": "李四", "member_ids": [spouse]})
    index.put("g", "500112104204", {"head_id": None, "name_key": "张三", "member_ids": [spouse, "999999194801010032"]})
    assert matching.possible_duplicates("f", index) == [("d", "possible_move"), ("g", "possible_move")]
    assert matching.similar_names("王秀英", "王秀英a") and not matching.similar_names("王伟", "王炜")


# -- convergence -----------------------------------------------------------------------------
PROPS = ["phone", "category", "housing_grade", "income_wage"]
VALUES = {
    "phone": ["13800138000", "13900139000", "13700137000"],
    "category": ["lifted", "monitored", "ordinary"],
    "housing_grade": ["B", "C", "D"],
    "income_wage": [0, 12000, 30000],
}
DEVICES = ["t1", "t2", "t3"]


@st.composite
def scenarios(draw):
    """Offline edits: each made after the device pulled at the start of round ``made``, delivered in
    round ``sent`` >= ``made``; some are later edits of an earlier submission; a clerk may resolve
    between rounds."""
    rounds = draw(st.integers(1, 3))
    seqs = dict.fromkeys(DEVICES, 0)
    edits = []
    for n in range(draw(st.integers(1, 7))):
        device = draw(st.sampled_from(DEVICES))
        made = draw(st.integers(1, rounds))
        seqs[device] += 1
        props = draw(st.lists(st.sampled_from(PROPS), unique=True, max_size=3))
        values = {p: draw(st.sampled_from(VALUES[p])) for p in props}
        revise = edits and draw(st.booleans()) and draw(st.integers(0, 3)) == 0
        uuid, rev = (edits[-1]["uuid"], f"{edits[-1]['gen'] + 1}-r{n}") if revise else (f"s{n}", f"1-r{n}")
        edits.append(
            {
                "uuid": uuid,
                "gen": int(rev.split("-")[0]),
                "rev": rev,
                "device": device,
                "seq": seqs[device],
                "made": made,
                "sent": draw(st.integers(made, rounds)),
                "completed": f"2026-11-2{draw(st.integers(0, 2))}T0{draw(st.integers(0, 9))}:00:00+08:00",
                "values": values,
            }
        )
    resolutions = {
        r: {p: draw(st.sampled_from(VALUES[p])) for p in draw(st.lists(st.sampled_from(PROPS), unique=True))}
        for r in range(1, rounds)
        if draw(st.booleans())
    }
    return rounds, edits, resolutions


def play(rounds: int, edits: list[dict], resolutions: dict, orders: list[list[dict]]) -> dict:
    record = hh.new_record(HID, VILLAGE, ROSTER, "roster", AT)
    synced = {1: 0}  # version a tablet pulling at the start of each round gets
    for r in range(1, rounds + 1):
        synced[r] = record["version"]
        for edit in orders[r - 1]:
            doc = sub(edit["uuid"], edit["device"], edit["seq"], synced[edit["made"]], edit["completed"], edit["rev"])
            hh.apply_submission(record, doc, edit["values"], AT)
        if r in resolutions:
            hh.resolve(record, resolutions[r], "clerk", f"2026-11-2{r}T12:00:00Z", f"resolution:r{r}")
    return record


def outcome(record: dict) -> tuple:
    conflicts = sorted((tuple(sorted(c["events"])), c["kind"], tuple(c["properties"])) for c in record["conflicts"])
    return record["version"], record["properties"], record["conflict"], record["conflicting_properties"], conflicts


@settings(max_examples=150, deadline=None)
@given(scenarios(), st.randoms(use_true_random=False))
def test_every_delivery_order_converges_and_loses_nothing(scenario, rng: random.Random):
    rounds, edits, resolutions = scenario
    per_round = [[e for e in edits if e["sent"] == r] for r in range(1, rounds + 1)]
    everything = list(itertools.product(*(itertools.permutations(batch) for batch in per_round)))
    orders = everything if len(everything) <= 60 else rng.sample(everything, 60)
    results = [play(rounds, edits, resolutions, [list(o) for o in order]) for order in orders]
    first = outcome(results[0])
    for record in results[1:]:
        assert outcome(record) == first
    for record in results:
        for edit in edits:  # every submitted value is in the history: changed, or already the base's
            event = next(e for e in record["events"] if e["id"] == f"{edit['uuid']}@{edit['rev']}")
            seen = hh.snapshot(record, HID, event["base_version"])
            for prop, value in edit["values"].items():
                assert event["changed"].get(prop, seen.get(prop)) == value


@settings(max_examples=100, deadline=None)
@given(scenarios())
def test_replaying_a_record_from_its_stored_form_gives_the_same_state(scenario):
    rounds, edits, resolutions = scenario
    record = play(rounds, edits, resolutions, [[e for e in edits if e["sent"] == r] for r in range(1, rounds + 1)])
    stored = copy.deepcopy(record)
    assert outcome(hh.refresh(stored)) == outcome(record)


def test_a_rejected_revision_stops_feeding_the_record_whenever_the_rejection_comes():
    late, early = roster_record(), roster_record()
    first = sub("s1", "t1", 1, 0, "2026-11-20T09:00:00+08:00")
    second = sub("s2", "t2", 1, 0, "2026-11-20T10:00:00+08:00")
    # the clerk rejects s2 after the worker applied it ...
    apply(late, first, {"phone": "13900139000"})
    apply(late, second, {"phone": "13700137000", "housing_grade": "D"})
    assert late["conflict"] == "hard"
    assert hh.record_decision(late, "submission:s2", "1-a", "reject") is True
    assert hh.record_decision(late, "submission:s2", "1-a", "reject") is False  # already so
    # ... or before it: the same record either way
    assert hh.record_decision(early, "submission:s2", "1-a", "reject") is True  # kept for when it arrives
    apply(early, second, {"phone": "13700137000", "housing_grade": "D"})
    apply(early, first, {"phone": "13900139000"})
    for record in (late, early):
        assert record["properties"] == {**ROSTER, "phone": "13900139000"}
        assert record["conflict"] is None and len(record["events"]) == 2  # the history keeps it
    # undoing the rejection brings the survey back; the device's correction feeds the record anyway
    assert hh.record_decision(late, "submission:s2", "1-a", None) is True
    assert late["properties"]["housing_grade"] == "D" and late["conflict"] == "hard"
    hh.record_decision(early, "submission:s2", "1-a", "reject")
    apply(early, sub("s2", "t2", 2, 0, "2026-11-20T11:00:00+08:00", rev="2-b"), {"housing_grade": "C"})
    assert early["properties"]["housing_grade"] == "C"


def test_all_approved_follows_the_revision_that_feeds_the_record():
    record = roster_record()
    apply(record, sub("s1", "t1", 1, 0, "2026-11-20T09:00:00+08:00"), {"phone": "13900139000"})
    assert not hh.all_approved(record)
    hh.record_decision(record, "submission:s1", "1-a", "approve")
    assert hh.all_approved(record)
    apply(record, sub("s1", "t1", 2, 0, "2026-11-20T12:00:00+08:00", rev="2-b"), {"phone": "13600136000"})
    assert not hh.all_approved(record)  # the edit is not approved yet
    hh.record_decision(record, "submission:s1", "2-b", "approve")
    assert hh.all_approved(record) and record["approved"] == {"submission:s1": "2-b"}
    hh.record_decision(record, "submission:s1", "2-b", None)
    assert record["approved"] == {} and not hh.all_approved(record)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_a_survey_of_one_village_never_matches_a_household_of_another(data):
    """Whatever the index holds (households, aliases and ID numbers spread over three villages),
    a survey of village V is matched to a household of V, or to its own id as a new one, or refused."""
    villages = ["500112104201", "500112104202", "500112105301"]
    ids = [HEAD, "110105194801010032", "999999194801010032", None]
    index = matching.Index()
    hids = [f"h{i}" for i in range(data.draw(st.integers(1, 8)))]
    for hid in hids:
        entry = {
            "head_id": data.draw(st.sampled_from(ids)),
            "name_key": data.draw(st.sampled_from(["王秀英", "李四", None])),
            "member_ids": data.draw(st.lists(st.sampled_from(ids[:3]), max_size=2, unique=True)),
        }
        index.put(hid, data.draw(st.sampled_from(villages)), entry)
    for alias in data.draw(st.lists(st.sampled_from(["new-1", "new-2"]), unique=True)):
        index.alias(alias, data.draw(st.sampled_from(hids)))
    village = data.draw(st.sampled_from(villages))
    claimed = data.draw(st.sampled_from([*hids, "new-1", "new-2", "new-3"]))
    submitted = {
        "head_id_number": data.draw(st.sampled_from(ids)),
        "head_name": data.draw(st.sampled_from(["王秀英", "李四"])),
        "members": [{"id_number": n} for n in data.draw(st.lists(st.sampled_from(ids[:3]), max_size=2))],
    }
    target, how = matching.match(claimed, village, submitted, index)
    if target is None:
        assert how == matching.OTHER_VILLAGE
        assert index.entries[index.canonical(claimed)].village != village
    elif how == "new":
        assert target == claimed and index.canonical(claimed) is None
    else:
        assert index.entries[target].village == village
    for hid in hids:
        for other, reason in matching.possible_duplicates(hid, index):
            crossing = index.entries[other].village != index.entries[hid].village
            assert crossing == (reason == matching.POSSIBLE_MOVE)


def test_a_member_confirmed_from_the_record_keeps_the_records_id_number_and_only_then():
    """Release 2026120105 never sends ID numbers to a device, so a revisit leaves a known member's
    ID empty; the record's ID is kept for the one member it can only be."""
    from server.households.model import with_known_member_ids

    seen = {"members": [{"name": "王秀英", "birth_date": "1949-12-31", "id_number": "A"},
                        {"name": "李小明", "birth_date": "2015-03-01", "id_number": "B"},
                        {"name": "李 小明", "birth_date": "2016-05-01", "id_number": "C"},
                        {"name": "张三", "id_number": "D"}, {"name": "张三", "id_number": "E"}]}  # fmt: skip
    submitted = {"members": [{"name": "王 秀英", "birth_date": "1949-12-31"},  # spacing differs: the same name
                             {"name": "李小明", "birth_date": "2015-03-01"},  # two of the name: the birth date decides
                             {"name": "张三"},  # two on record: no guess
                             {"name": "王秀英", "birth_date": "1950-01-01"},  # another person of the name
                             {"name": "新成员"},
                             {"name": "李小明", "birth_date": "2015-03-01", "id_number": "F"}]}  # fmt: skip
    out = with_known_member_ids(submitted, seen)
    assert [m.get("id_number") for m in out["members"]] == ["A", "B", None, None, None, "F"]
    assert submitted["members"][0] == {"name": "王 秀英", "birth_date": "1949-12-31"}  # the input is not changed
    assert with_known_member_ids({"phone": "1"}, seen) == {"phone": "1"}
