"""Tiers as the system computes them: worker, household docs on the village, API, summary, and
switching the policy with the ``fangpin policy`` commands (real CouchDB, real processes)."""

from __future__ import annotations

import uuid

import records
from conftest import PASSWORD, fangpin
from test_household_worker import push, roster, run, survey

from server.casework import policy as policies
from sync import audit, names

CLERK = ("clerk", PASSWORD)


def damage(village: str, household: str, **changes) -> dict:
    doc = records.submission("damage_survey", uuid.uuid4().hex, village_code=village, household_id=household)
    doc.pop("_rev")
    doc["data"].update(changes)
    return doc


def test_a_damage_survey_gives_the_household_a_tier_with_reasons_deadline_and_task(client, conn, township):
    a = township.a
    roster(conn, a)
    hid = f"{a}-0001"
    push(conn, a, survey(a, hid))  # the household survey alone: no tier yet
    run(conn)
    body = client.get(f"/api/v1/households/{hid}", auth=CLERK).get_json()
    assert body["tier"] is None and body["rules"] == [] and body["deadline"] is None
    push(conn, a, damage(a, hid))  # severe damage, the only dwelling, no safe shelter: H1
    run(conn)
    body = client.get(f"/api/v1/households/{hid}", auth=CLERK).get_json()
    # severe damage, only dwelling, no shelter (H1); 16,600.5 yuan for three, 40 % drop: 3,320 a head (H5);
    # 李长生, of normal labour before, seriously injured: only 王秀英's weak labour is left (H6);
    # medical 1,500 + school 600 + loss 32,000.5 above last year's 18,000 (H7)
    assert body["tier"] == "high" and [r["id"] for r in body["rules"]] == ["H1", "H5", "H6", "H7"]
    assert body["rules"][2]["values"] == {"lost": "李长生", "labour_before": 2, "labour_left": 1}
    assert body["rules"][0]["values"]["house_damage"] == "severe" and body["rules"][0]["message"]["zh"]
    assert (
        body["rules"][1]["values"]["per_capita_after"] == 3320.1 and body["rules"][1]["values"]["income_line"] == 6000
    )
    assert body["deadline"] == "2026-12-07" and body["flagged_on"] == "2026-11-22"
    assert body["provisional"] is True and body["policy_version"] == policies.default().version
    # 缺什么补什么: H1 without shelter; H5 and H6 with only weak labour left; H7's largest part (the loss);
    # then the medium rules that fired too (crops, a seriously ill member, relocated); loans falling due
    assert [m["id"] for m in body["measures"]] == [
        "housing", "transitional_shelter", "temporary_relief", "public_welfare_jobs", "social_assistance",
        "production_recovery", "industry", "crop_insurance", "health", "transitional_living", "microcredit_extension",
    ]  # fmt: skip
    assert [r["id"] for r in body["other_rules"]] == ["M1", "M2", "M3", "M5", "M6", "M8"]
    assert [(h["from"], h["tier"], h["cause"]["kind"]) for h in body["tier_history"]] == [(None, "high", "submission")]
    doc = conn.admin.get(names.village_db(a), f"household:{hid}")
    assert doc["tier"] == "high" and doc["deadline"] == "2026-12-07" and doc["tasks"][0]["kind"] == "identification"
    assert doc["rules"][0]["id"] == "H1" and doc["measures"][0]["zh"] == "住房安全保障"


def test_a_provisional_household_is_tiered_under_its_own_id(client, conn, township):
    a = township.a
    provisional = f"new-{uuid.uuid4()}"
    push(conn, a, damage(a, provisional, house_damage="minor", only_dwelling="no", safe_shelter="yes"))
    run(conn)
    body = client.get(f"/api/v1/households/{provisional}", auth=CLERK).get_json()
    assert body["id"] == provisional and body["tier"] == "medium"
    # minor damage; crops 30-80 % lost, the main income; a member seriously injured (H6 waits for the members)
    assert [r["id"] for r in body["rules"]] == ["M1", "M2", "M8"]
    assert body["deadline"] == "2026-12-22"


def test_summary_counts_tiers_overdue_provisional_and_conflicts_per_village(client, conn, township):
    a, b = township.a, township.b
    roster(conn, a)
    roster(conn, b)
    push(conn, a, damage(a, f"{a}-0001"), damage(a, f"{a}-0002", house_damage="minor", safe_shelter="yes"))
    push(
        conn,
        b,
        damage(
            b,
            f"{b}-0001",
            house_damage="none",
            crop_loss_band="none",
            livestock_lost=0,
            injured_serious=0,
            injured_minor=0,
            direct_loss_yuan=0,
            water_cut_days=0,
            casualties=[],
            relocated="none",
        ),
    )
    run(conn)
    body = client.get("/api/v1/summary", auth=CLERK).get_json()
    assert body["township"] == a[:9]
    rows = {r["village_code"]: r for r in body["villages"]}
    assert rows[a]["tiers"] == {"high": 1, "medium": 1, "low": 0, "none": 1} and rows[a]["provisional"] == 2
    assert rows[b]["tiers"] == {"high": 0, "medium": 0, "low": 1, "none": 2}
    assert rows[a]["overdue"] == 0 and body["totals"]["households"] == 6
    assert client.get("/api/v1/summary?township=500112105", auth=CLERK).status_code == 403
    assert client.get("/api/v1/summary", auth=("gw_a", PASSWORD)).status_code == 403
    listed = client.get("/api/v1/households?tier=high", auth=CLERK).get_json()["households"]
    assert [h["id"] for h in listed] == [f"{a}-0001"] and listed[0]["deadline"] == "2026-12-07"
    assert client.get("/api/v1/households?tier=none", auth=CLERK).get_json()["total"] == 3


def test_policy_commands_check_diff_and_switch_with_the_cause_recorded(conn, settings, township, tmp_path, client):
    a = township.a
    roster(conn, a)
    push(conn, a, damage(a, f"{a}-0001", house_damage="minor", safe_shelter="yes", water_cut_days=25))
    run(conn)
    default = policies.DEFAULT_PATH
    stricter = tmp_path / "stricter.toml"
    stricter.write_text(
        default.read_text(encoding="utf-8")
        .replace('version = "2026.12.1"', 'version = "2026.12.2"')
        .replace("water_cut_days = 30 ", "water_cut_days = 20 "),
        encoding="utf-8",
    )
    assert "ok: fangpin-default 2026.12.2" in fangpin(settings, "policy", "check", str(stricter)).stdout
    broken = tmp_path / "broken.toml"
    broken.write_text(default.read_text(encoding="utf-8").replace("yuan = 8700", "yuan = 0"), encoding="utf-8")
    bad = fangpin(settings, "policy", "check", str(broken), check=False)
    assert bad.returncode == 1 and f"{broken}:54: income_lines[2].yuan" in bad.stderr and "须为正数" in bad.stderr
    diff = fangpin(settings, "policy", "diff", str(default), str(stricter)).stdout
    assert f"{a}: 3 户 / households, 分级变化 / tier changes 1 (medium→high 1)" in diff
    listed = fangpin(settings, "policy", "diff", str(stricter), "--households").stdout  # against the one in force
    assert "2026.12.1 → 2026.12.2 (在用 / in force → file)" in listed
    assert f"  {a}-0001: medium M1 M2 M8 → high H2" in listed
    switched = fangpin(settings, "policy", "activate", str(stricter), "--reason", "县里调整停水标准", "--by", "admin")
    assert "policy 2026.12.2 in force (was 2026.12.1); 1 of 3 households changed tier" in switched.stdout
    body = client.get(f"/api/v1/households/{a}-0001", auth=CLERK).get_json()
    assert body["tier"] == "high" and body["policy_version"] == "2026.12.2"
    last = body["tier_history"][-1]
    assert (last["from"], last["tier"], last["cause"]["kind"], last["cause"]["reason"]) == (
        "medium",
        "high",
        "policy",
        "县里调整停水标准",
    )
    assert conn.admin.get(names.village_db(a), f"household:{a}-0001")["tier"] == "high"
    assert [e["action"] for e in audit.entries_for(conn.admin, "policy:active")] == ["policy.activate"]
    again = fangpin(settings, "policy", "activate", str(stricter), "--reason", "again")
    assert "0 of 3 households changed tier" in again.stdout


def test_a_clerk_resolution_or_merge_recomputes_the_tier(client, conn, township):
    a = township.a
    roster(conn, a)
    hid = f"{a}-0001"
    push(conn, a, damage(a, hid, house_damage="minor", safe_shelter="yes", crop_loss_band="none"))
    run(conn)
    assert client.get(f"/api/v1/households/{hid}", auth=CLERK).get_json()["tier"] == "medium"
    # the clerk corrects the damage after a visit: the house is in fact severely damaged and the only home
    values = {"house_damage": "severe", "only_dwelling": "yes", "safe_shelter": "no"}
    body = client.post(f"/api/v1/households/{hid}/resolve", json={"values": values}, auth=CLERK).get_json()
    assert body["tier"] == "high" and body["tier_history"][-1]["cause"]["kind"] == "resolution"
    assert conn.admin.get(names.village_db(a), f"household:{hid}")["tier"] == "high"
