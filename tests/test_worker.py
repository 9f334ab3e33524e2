"""The changes-feed worker: exactly one review per submission revision, across crashes and restarts."""

from __future__ import annotations

import records
from conftest import env_for, wait_for

from server.access.accounts import add_village
from server.pipeline.worker import Worker, checkpoint_name, lag
from sync import bootstrap, names


def submissions(village: str, user: str, count: int, start: int = 0) -> list[dict]:
    docs = []
    for i in range(start, start + count):
        doc = records.submission(
            "damage_survey",
            f"{village[-3:]}-{i:04d}",
            village_code=village,
            household_id=f"{village}-0001",
            submitted_by=user,
        )
        doc.pop("_rev")
        doc["data"]["livestock_lost"] = i
        docs.append(doc)
    return docs


def reviews(conn, village: str) -> dict[str, dict]:
    return {d["_id"]: d for d in conn.admin.iter_prefix(names.village_db(village), "review:")}


def test_each_submission_gets_exactly_one_review_and_a_second_sweep_writes_nothing(conn, township):
    conn.gateway.bulk_docs(names.village_db(township.a), submissions(township.a, "gw_a", 7))
    worker = Worker(conn.admin, batch_size=3)
    assert worker.sweep() == 7
    assert worker.sweep() == 0
    assert Worker(conn.admin).sweep() == 0  # a fresh worker resumes from the checkpoint
    got = reviews(conn, township.a)
    assert len(got) == 7
    assert all(r["_rev"].startswith("1-") and r["state"] == "received" for r in got.values())
    assert conn.admin.get_local(names.CASES, checkpoint_name(names.village_db(township.a)))["seq"]
    assert lag(conn.admin) == 0


def test_a_new_revision_updates_the_same_review(conn, township):
    db = names.village_db(township.a)
    [doc] = submissions(township.a, "gw_a", 1)
    rev1 = conn.gateway.bulk_docs(db, [doc])[0]["rev"]
    worker = Worker(conn.admin)
    worker.sweep()
    rev2 = conn.gateway.bulk_docs(db, [{**doc, "_rev": rev1, "data": {"deaths": 1}, "form_version": None}])[0]["rev"]
    worker.sweep()
    [review] = reviews(conn, township.a).values()
    assert review["submission_rev"] == rev2 and review["_rev"].startswith("2-")
    assert review["state"] == "has_issues"
    assert [h["submission_rev"] for h in review["history"]] == [rev1, rev2]


def test_worker_crash_between_write_and_checkpoint_loses_and_duplicates_nothing(conn, settings, township, spawn):
    db_a, db_b = names.village_db(township.a), names.village_db(township.b)
    conn.gateway.bulk_docs(db_a, submissions(township.a, "gw_a", 12))
    conn.gateway.bulk_docs(db_b, submissions(township.b, "gw_b", 8))

    crashing = spawn("worker", "--batch-size", "5", env=env_for(settings, FANGPIN_WORKER_CRASH_AFTER_WRITES="2"))
    assert crashing.proc.wait(60) == 70, crashing.output()
    written = len(reviews(conn, township.a)) + len(reviews(conn, township.b))
    assert 0 < written < 20  # it died mid-way, after writing reviews it had not checkpointed

    spawn("worker", "--batch-size", "5")
    wait_for(
        lambda: len(reviews(conn, township.a)) == 12 and len(reviews(conn, township.b)) == 8,
        message="all 20 reviews after restart",
    )
    wait_for(lambda: lag(conn.admin) == 0, message="worker to catch up")
    everything = {**reviews(conn, township.a), **reviews(conn, township.b)}
    assert len(everything) == 20
    assert all(r["_rev"].startswith("1-") for r in everything.values()), "a review was written twice"
    assert all(len(r["history"]) == 1 for r in everything.values())


def test_villages_registered_later_are_followed(conn, settings, township, spawn):
    spawn("worker")
    code = "500112104209"
    add_village(conn.admin, code, "新村")
    bootstrap.ensure_village_db(conn, code)
    conn.gateway.bulk_docs(names.village_db(code), submissions(code, "gw_x", 2))
    wait_for(lambda: len(reviews(conn, code)) == 2, message="reviews in the new village")


def test_shards_split_villages_without_overlap(conn, township):
    all_codes = Worker(conn.admin).villages()
    halves = [Worker(conn.admin, shard=(i, 2)).villages() for i in range(2)]
    assert sorted(halves[0] + halves[1]) == sorted(all_codes)
    assert not set(halves[0]) & set(halves[1])


def test_revalidate_brings_reviews_up_to_date_and_keeps_clerk_decisions(conn, settings, township):
    from conftest import fangpin

    db = names.village_db(township.a)
    docs = submissions(township.a, "gw_a", 3)
    for doc in docs[:2]:  # two break a constraint that older rules did not look at
        doc["data"]["income_drop_pct"] = 120
    conn.gateway.bulk_docs(db, docs)
    Worker(conn.admin).sweep()
    reviews_now = reviews(conn, township.a)
    assert sorted(r["state"] for r in reviews_now.values()) == ["has_issues", "has_issues", "received"]
    # What the reviews looked like under the older rules: no issues; a clerk approved one of them.
    old = []
    for doc, state in zip(docs[:2], ["received", "approved"], strict=True):
        review = reviews_now["review:" + doc["_id"].split(":", 1)[1]]
        old.append({**review, "issues": [], "state": state})
    conn.admin.bulk_docs(db, old)

    out = fangpin(settings, "revalidate", "--village", township.a).stdout
    assert "checked 3 submissions, 2 reviews updated" in out
    after = {r["_id"]: r for r in reviews(conn, township.a).values()}
    first, second = (after["review:" + d["_id"].split(":", 1)[1]] for d in docs[:2])
    assert first["state"] == "has_issues" and second["state"] == "approved"
    for review in (first, second):
        assert [(i["path"], i["code"]) for i in review["issues"]] == [("income_drop_pct", "constraint.failed")]
        assert review["history"][-1]["action"] == "revalidated"
    assert "0 reviews updated" in fangpin(settings, "revalidate").stdout
    bad = fangpin(settings, "revalidate", "--village", "500112104299", check=False)
    assert bad.returncode != 0 and "unregistered village" in bad.stderr
