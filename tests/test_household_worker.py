"""The worker turns submissions into household records (real CouchDB): versions, conflicts,
matching of provisional households, duplicates, revision conflicts archived, exactly-once effects."""

from __future__ import annotations

import copy
import uuid

import records

from server.households import model as households
from server.pipeline import household_store
from server.pipeline.worker import Worker, checkpoint_name
from sync import names

HEAD = records.HEAD_ID


def roster(conn, village: str, count: int = 3) -> None:
    props = {
        f"{village}-{i:04d}": {"head_name": f"户主{i}", "head_id_number": records.make_id("19600101", 2 * i + 1)}
        for i in range(1, count + 1)
    }
    props[f"{village}-0001"] = {"head_name": "王秀英", "head_id_number": HEAD, "phone": "13800138000"}
    household_store.add_roster(conn.admin, village, props, "2026-11-01T00:00:00Z")


def survey(
    village: str,
    household: str,
    user: str = "gw_a",
    device: str = "tab-1",
    seq: int = 1,
    base: int = 0,
    completed: str = "2026-11-20T09:20:00+08:00",
    **changes,
) -> dict:
    doc = records.submission("household_survey", uuid.uuid4().hex, village_code=village, household_id=household)
    doc.pop("_rev")
    doc.update(submitted_by=user, device_id=device, device_seq=seq, household_base_version=base, completed_at=completed)
    doc["data"].update(changes)
    return doc


def push(conn, village: str, *docs: dict) -> list[str]:
    results = conn.gateway.bulk_docs(names.village_db(village), list(docs))
    assert all(r.get("ok") for r in results), results
    return [r["rev"] for r in results]


def record(conn, household: str) -> dict:
    return conn.admin.get(names.CASES, f"household:{household}")


def village_doc(conn, village: str, household: str) -> dict:
    return conn.admin.get(names.village_db(village), f"household:{household}")


def run(conn) -> int:
    return Worker(conn.admin, today=records.TODAY).sweep()


def test_concurrent_surveys_of_one_household_make_versions_and_a_hard_conflict(conn, township):
    a = township.a
    roster(conn, a)
    hid = f"{a}-0001"
    push(conn, a, survey(a, hid, "gw_a", "tab-0", completed="2026-11-19T09:00:00+08:00"))
    run(conn)
    assert record(conn, hid)["version"] == 1 and record(conn, hid)["conflict"] is None
    first = survey(a, hid, "gw_a", "tab-1", base=1, phone="13900139000", housing_grade="C")
    second = survey(a, hid, "gw_a", "tab-2", base=1, completed="2026-11-20T10:00:00+08:00", phone="13700137000")
    push(conn, a, first, second)
    run(conn)
    rec = record(conn, hid)
    assert rec["version"] == 3 and rec["conflict"] == "hard" and rec["conflicting_properties"] == ["phone"]
    assert rec["properties"]["phone"] == "13700137000" and rec["properties"]["housing_grade"] == "C"
    assert [e["submission_id"] for e in rec["events"]][1:] == [first["_id"], second["_id"]]
    doc = village_doc(conn, a, hid)
    assert doc["version"] == 3 and doc["properties"] == rec["properties"] and doc["conflict"] == "hard"
    review = conn.admin.get(names.village_db(a), names.review_id(first["_id"]))
    assert review["household"]["id"] == hid and review["household"]["matched_by"] == "known"
    # a tablet that pulled version 3 edits again: it saw both, so nothing new conflicts
    push(conn, a, survey(a, hid, "gw_a", "tab-1", seq=2, base=3, completed="2026-11-21T09:00:00+08:00", phone="1"))
    run(conn)
    assert record(conn, hid)["version"] == 4 and record(conn, hid)["conflicting_properties"] == ["phone"]


def test_a_repeated_page_writes_nothing_twice(conn, township):
    a = township.a
    roster(conn, a)
    push(conn, a, survey(a, f"{a}-0001", phone="13900139000"), survey(a, f"{a}-0002", device="tab-2"))
    run(conn)
    before = {h: record(conn, h)["_rev"] for h in (f"{a}-0001", f"{a}-0002")}
    reviews_before = {d["_id"]: d["_rev"] for d in conn.admin.iter_prefix(names.village_db(a), "review:")}
    # as if the worker died before its checkpoint
    conn.admin.put_local(names.CASES, checkpoint_name(names.village_db(a)), {"seq": 0})
    run(conn)
    assert {h: record(conn, h)["_rev"] for h in before} == before
    assert {d["_id"]: d["_rev"] for d in conn.admin.iter_prefix(names.village_db(a), "review:")} == reviews_before


def test_two_provisional_ids_for_one_new_household_become_one_record(conn, township):
    a = township.a
    first_id, second_id = (f"new-{uuid.uuid4()}" for _ in range(2))
    head = records.make_id("19700505", 3)
    member = {**copy.deepcopy(records.HOUSEHOLD_SURVEY["members"][0]), "id_number": head, "sex": "male"}
    member["birth_date"] = "1970-05-05"
    push(conn, a, survey(a, first_id, head_name="赵六", head_id_number=head, members=[member]))
    run(conn)
    push(conn, a, survey(a, second_id, device="tab-2", head_name="赵 六", head_id_number=head, members=[member]))
    run(conn)
    rec = record(conn, first_id)
    assert rec["aliases"] == [second_id] and rec["version"] == 2
    assert record(conn, second_id) is None
    assert village_doc(conn, a, second_id)["merged_into"] == first_id
    reviews = {d["household"]["matched_by"] for d in conn.admin.iter_prefix(names.village_db(a), "review:")}
    assert reviews == {"new", "head_id"}


def test_same_head_id_in_two_households_is_a_merge_candidate_on_both(conn, township):
    a = township.a
    roster(conn, a)
    hid1, hid3 = f"{a}-0001", f"{a}-0003"
    push(conn, a, survey(a, hid3, head_name="王秀英", head_id_number=HEAD))  # the same person, in another household
    run(conn)
    assert record(conn, hid3)["duplicates"] == [{"id": hid1, "reason": "same_head_id", "status": "open"}]
    assert record(conn, hid1)["duplicates"] == [{"id": hid3, "reason": "same_head_id", "status": "open"}]


def test_member_id_in_another_household_is_a_warning_with_the_worker_context(conn, township):
    a = township.a
    roster(conn, a)
    push(conn, a, survey(a, f"{a}-0001"))
    run(conn)
    doc = survey(a, f"{a}-0002", device="tab-2", head_name="李四", head_id_number=records.SPOUSE_ID)
    doc["data"]["members"] = [m for m in doc["data"]["members"] if m["relation"] != "head"]
    doc["data"]["members"][0]["relation"] = "head"
    push(conn, a, doc)
    run(conn)
    review = conn.admin.get(names.village_db(a), names.review_id(doc["_id"]))
    assert "id.duplicate_other_household" in {i["code"] for i in review["issues"]}
    # and both households carry it, so the clerk sees it from either side
    assert {"id": f"{a}-0002", "reason": "shared_member_id", "status": "open"} in record(conn, f"{a}-0001")[
        "duplicates"
    ]
    assert {"id": f"{a}-0001", "reason": "shared_member_id", "status": "open"} in record(conn, f"{a}-0002")[
        "duplicates"
    ]


def test_a_revision_conflict_keeps_the_later_completed_revision_and_archives_the_other(conn, township):
    a = township.a
    roster(conn, a)
    db = names.village_db(a)
    doc = survey(a, f"{a}-0001", phone="13900139000")
    [rev1] = push(conn, a, doc)
    run(conn)
    # Two tablets of the same grid worker edited the same submission offline: CouchDB keeps both.
    later = {**doc, "_rev": f"2-{'b' * 32}", "completed_at": "2026-11-21T09:00:00+08:00", "device_id": "tab-2"}
    later["data"] = {**doc["data"], "phone": "13700137000"}
    earlier = {**doc, "_rev": f"2-{'c' * 32}", "completed_at": "2026-11-20T11:00:00+08:00"}
    earlier["data"] = {**doc["data"], "phone": "13600136000"}
    for branch in (later, earlier):
        branch["_revisions"] = {"start": 2, "ids": [branch["_rev"][2:], rev1[2:]]}
        conn.admin.bulk_docs(db, [branch], new_edits=False)
    assert conn.admin.get(db, doc["_id"], conflicts="true")["_conflicts"]  # CouchDB picked "c…" (higher hash)
    run(conn)
    current = conn.admin.get(db, doc["_id"], conflicts="true")
    assert current["_rev"] == later["_rev"] and "_conflicts" not in current
    archive = conn.admin.get(names.CASES, f"archive:{names.village_db(a)}:{doc['_id']}:{earlier['_rev']}")
    assert archive["doc"]["data"]["phone"] == "13600136000" and archive["winner_rev"] == later["_rev"]
    review = conn.admin.get(db, names.review_id(doc["_id"]))
    assert [c["rev"] for c in review["revision_conflicts"]] == [earlier["_rev"]]
    assert review["submission_rev"] == later["_rev"]
    assert record(conn, f"{a}-0001")["properties"]["phone"] == "13700137000"
    assert run(conn) == 0  # settled for good


def test_a_revision_conflict_in_the_case_database_is_archived_too(conn, township):
    a = township.a
    roster(conn, a)
    rec = record(conn, f"{a}-0001")
    other = {**rec, "_rev": f"1-{'f' * 32}", "source": "replica"}  # another server's version 0 of it
    conn.admin.bulk_docs(names.CASES, [other], new_edits=False)
    assert conn.admin.get(names.CASES, rec["_id"], conflicts="true").get("_conflicts")
    assert run(conn) == 1
    assert not conn.admin.get(names.CASES, rec["_id"], conflicts="true").get("_conflicts")
    archived = list(conn.admin.iter_prefix(names.CASES, "archive:"))
    assert len(archived) == 1 and archived[0]["doc_id"] == rec["_id"]


def test_a_household_merged_by_someone_else_a_moment_ago_gets_the_next_survey_on_its_survivor(conn, township):
    """The worker reads other writers' changes to its index only every few seconds; a page matched
    on the stale index finds the record merged away when it loads it and is redone."""
    a = township.a
    roster(conn, a)
    survivor, gone = f"{a}-0001", f"{a}-0002"
    worker = Worker(conn.admin, today=records.TODAY)
    push(conn, a, survey(a, gone, device="tab-2"))
    worker.sweep()
    assert worker.live.index.canonical(gone) == gone

    def merge(recs: dict) -> None:
        households.merge(recs[survivor], recs[gone], "clerk_a", "2026-11-22T01:00:00Z", "merge:test")

    household_store.update(conn.admin, [survivor, gone], merge)  # as the clerk app does, in another process
    gone_before = record(conn, gone)
    later = survey(a, gone, device="tab-3", seq=2, base=1, phone="13900139000")
    push(conn, a, later)
    worker.sweep()  # the same worker, well within its index's follow interval
    assert record(conn, gone)["_rev"] == gone_before["_rev"]  # nothing applied to the retired record
    assert record(conn, survivor)["properties"]["phone"] == "13900139000"
    assert conn.admin.get(names.village_db(a), names.review_id(later["_id"]))["household"]["id"] == survivor


def test_a_household_taken_back_by_a_failed_roster_import_leaves_the_matching_index(conn, township):
    """A failed import deletes the records it created; a running worker must stop matching them."""
    a = township.a
    roster(conn, a)
    worker = Worker(conn.admin, today=records.TODAY)
    push(conn, a, survey(a, f"{a}-0002", device="tab-2"))
    worker.sweep()
    taken_back = f"{a}-0003"
    head = record(conn, taken_back)["properties"]["head_id_number"]
    assert worker.live.index.by_head[head] == {taken_back}
    doc = record(conn, taken_back)
    conn.admin.bulk_docs(names.CASES, [{"_id": doc["_id"], "_rev": doc["_rev"], "_deleted": True}])
    worker.live.current(fresh=True)
    assert taken_back not in worker.live.index.entries and not worker.live.index.by_head.get(head)
    newcomer = survey(a, f"new-{uuid.uuid4()}", head_id_number=head, head_name="户主3")
    push(conn, a, newcomer)
    worker.sweep()
    assert record(conn, taken_back) is None  # not brought back by a survey that only shares its head
    review = conn.admin.get(names.village_db(a), names.review_id(newcomer["_id"]))
    assert review["household"]["id"] == newcomer["household_id"] and review["household"]["matched_by"] == "new"
