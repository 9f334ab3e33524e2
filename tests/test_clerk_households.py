"""Household pages of the clerk app (real CouchDB, Flask test client): list filters, the tier with
its reasons, the conflict screen (base / server / submitted) and resolving from it, merge and
dismiss screens, and the township wall."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import uuid

import lxml.html
import records
from test_clerk_app import KEY, TOKEN, sign_in
from test_household_api import conflicted
from test_household_worker import push, record, roster, run, survey

from server.casework import lists
from server.pipeline import household_store
from server.validation.submission import local_today
from sync import names


def form_fields(page: str) -> dict[str, str]:
    return {"csrf_token": TOKEN.search(page).group(1), "action_key": KEY.search(page).group(1)}


def test_list_filters_by_tier_and_conflict_and_links_each_household(client, conn, township):
    hid = conflicted(conn, township.a)
    damage = records.submission("damage_survey", "d1", village_code=township.a, household_id=f"{township.a}-0002")
    damage.pop("_rev")
    push(conn, township.a, damage)
    run(conn)
    sign_in(client)
    page = client.get("/clerk/households").get_data(as_text=True)
    assert "共 3 条" in page and f'href="/clerk/households/{hid}"' in page
    high = client.get("/clerk/households?tier=high").get_data(as_text=True)
    assert "共 1 条" in high and f"{township.a}-0002" in high and "H1" in high
    hard = client.get("/clerk/households?conflict=hard").get_data(as_text=True)
    assert "共 1 条" in hard and hid in hard
    assert "共 1 条" in client.get("/clerk/households?q=王秀英").get_data(as_text=True)


def test_household_page_shows_tier_reasons_measures_and_timeline(client, conn, township):
    roster(conn, township.a, 1)
    hid = f"{township.a}-0001"
    damage = records.submission("damage_survey", "d1", village_code=township.a, household_id=hid)
    damage.pop("_rev")
    push(conn, township.a, damage)
    run(conn)
    sign_in(client)
    page = client.get(f"/clerk/households/{hid}").get_data(as_text=True)
    assert 'id="tier">高风险' in page and "待定" in page
    rules = re.search(r'<ul id="rules">(.*?)</ul>', page, re.S).group(1)
    assert "H1" in rules and "住房安全保障" in re.search(r'<ul id="measures">(.*?)</ul>', page, re.S).group(1)
    assert "住房受损程度" in page and "严重损坏" in page  # labels and choice labels, not raw values
    assert "/clerk/submissions/d1" in page


def test_resolving_a_hard_conflict_from_the_side_by_side_screen(client, conn, township):
    hid = conflicted(conn, township.a)
    sign_in(client)
    page = client.get(f"/clerk/households/{hid}").get_data(as_text=True)
    row = re.search(r'<tr data-property="phone">(.*?)</tr>', page, re.S).group(1)
    assert '<td class="base">13800138000</td>' in row  # what both tablets saw
    assert "13700137000" in row and "13900139000" in row and "保留当前值" in row
    resp = client.post(
        f"/clerk/households/{hid}/resolve",
        data={**form_fields(page), "version": "3", "choice:phone": '"13900139000"'},
    )
    assert resp.status_code == 302
    rec = record(conn, hid)
    assert rec["conflict"] is None and rec["properties"]["phone"] == "13900139000" and rec["version"] == 4
    assert conn.admin.get(names.village_db(township.a), f"household:{hid}")["properties"]["phone"] == "13900139000"
    after = client.get(f"/clerk/households/{hid}").get_data(as_text=True)
    assert "已处理：第 4 版" in after and 'id="conflict-table"' not in after and "处理冲突" in after
    stale = client.post(
        f"/clerk/households/{hid}/resolve", data={**form_fields(page), "action_key": "b" * 16, "version": "3"}
    )
    assert "已更新到第 4 版" in client.get(stale.headers["Location"]).get_data(as_text=True)


def test_merge_and_dismiss_from_the_compare_screen(client, conn, township):
    a = township.a
    roster(conn, a)
    provisional = f"new-{uuid.uuid4()}"
    doc = survey(a, provisional, head_name="王秀英", head_id_number=records.make_id("19600101", 5))
    push(conn, a, doc)
    push(conn, a, survey(a, f"{a}-0003", head_name="王秀英", head_id_number=records.HEAD_ID))
    run(conn)
    sign_in(client)
    page = client.get(f"/clerk/households/{a}-0001").get_data(as_text=True)
    assert f"/clerk/households/{a}-0001/compare/{a}-0003" in page
    compare = client.get(f"/clerk/households/{a}-0001/compare/{a}-0003").get_data(as_text=True)
    assert 'data-property="head_name"' in compare
    client.post(f"/clerk/households/{a}-0001/dismiss", data={"csrf_token": TOKEN.search(compare).group(1),
                                                             "other": f"{a}-0003"})  # fmt: skip
    dups = {d["id"]: d["status"] for d in record(conn, f"{a}-0001")["duplicates"]}
    assert dups[f"{a}-0003"] == "dismissed", dups
    # merge the provisional household into the roster's, keeping its phone
    resp = client.post(
        f"/clerk/households/{a}-0002/merge",
        data={**form_fields(compare), "other": provisional, "keep:phone": "theirs"},
    )
    assert resp.status_code == 302
    survivor = record(conn, f"{a}-0002")
    assert survivor["aliases"] == [provisional] and survivor["properties"]["phone"] == doc["data"]["phone"]
    redirected = client.get(f"/clerk/households/{provisional}")
    assert redirected.status_code == 302 and redirected.headers["Location"].endswith(f"/{a}-0002")


def test_compare_keeps_the_roster_household_and_never_defaults_to_a_blank(client, conn, township):
    a = township.a
    household_store.add_roster(conn.admin, a, {f"{a}-0004": {"head_name": "李四", "phone": "", "category": "lifted",
                               "head_id_number": records.make_id("19700101", 9)}}, "2026-11-01T00:00:00Z")  # fmt: skip
    provisional = f"new-{uuid.uuid4()}"
    push(conn, a, survey(a, provisional, head_name="李四", head_id_number="", phone="13911112222", category="ordinary"))
    run(conn)
    assert any(d["id"] == provisional for d in record(conn, f"{a}-0004")["duplicates"])
    sign_in(client)
    # opened from the provisional household, the roster's is put on the left: it is the one kept
    swapped = client.get(f"/clerk/households/{provisional}/compare/{a}-0004")
    assert swapped.status_code == 302 and swapped.headers["Location"].endswith(f"/{a}-0004/compare/{provisional}")
    compare = client.get(swapped.headers["Location"]).get_data(as_text=True)
    checked = {i.get("name"): i.get("value") for i in lxml.html.fromstring(compare).xpath("//input[@checked]")}
    assert checked["keep:head_id_number"] == "mine"  # the survey left it blank: the roster's number stays
    assert checked["keep:phone"] == "theirs"  # the roster has none: the survey's, not a blank
    assert checked["keep:category"] == "mine"  # both known: the survivor's unless the clerk picks
    # a roster household is never folded into a provisional one (the API refuses it too)
    refused = client.post(f"/clerk/households/{provisional}/merge", data={**form_fields(compare), "other": f"{a}-0004"})
    assert "不能并入临时编号的户" in client.get(refused.headers["Location"], follow_redirects=True).get_data(
        as_text=True
    )
    assert record(conn, f"{a}-0004").get("merged_into") is None
    done = client.post(f"/clerk/households/{a}-0004/merge", data={**form_fields(compare), "other": provisional,
                       **{k: v for k, v in checked.items()}})  # fmt: skip
    assert done.status_code == 302
    kept = record(conn, f"{a}-0004")["properties"]
    assert (kept["head_id_number"], kept["phone"], kept["category"]) == (records.make_id("19700101", 9),
                                                                         "13911112222", "lifted")  # fmt: skip


def test_another_townships_clerk_cannot_see_or_change_households(client, conn, township):
    hid = conflicted(conn, township.a)
    sign_in(client, "clerk_other")
    assert hid not in client.get("/clerk/households").get_data(as_text=True)
    assert client.get(f"/clerk/households/{hid}").status_code == 404
    page = client.get("/clerk/households").get_data(as_text=True)
    resp = client.post(
        f"/clerk/households/{hid}/resolve",
        data={"csrf_token": TOKEN.search(page).group(1), "action_key": "c" * 16, "version": "3"},
    )
    assert resp.status_code == 404 and record(conn, hid)["conflict"] == "hard"


def test_identification_steps_each_recorded_by_its_role_and_a_notice_without_personal_data(client, conn, township):
    a = township.a
    roster(conn, a, 1)
    hid = f"{a}-0001"
    push(conn, a, survey(a, hid, phone="13912345678"))
    damage = records.submission("damage_survey", "d1", village_code=a, household_id=hid)
    damage.pop("_rev")
    push(conn, a, damage)
    run(conn)
    sign_in(client)
    listed = client.get("/clerk/identification").get_data(as_text=True)
    assert f'data-id="{hid}"' in listed and "风险预警" in listed
    case = f"/clerk/identification/{hid}"

    def step(who: str, to: str, **form) -> str:
        sign_in(client, who)
        page = client.get(case).get_data(as_text=True)
        key = KEY.search(page).group(1) if KEY.search(page) else uuid.uuid4().hex  # no form for this role: forged
        fields = {"csrf_token": TOKEN.search(page).group(1), "action_key": key}
        resp = client.post(f"/clerk/households/{hid}/identification", data={**fields, "to": to, **form})
        assert resp.headers["Location"].endswith("?at=identification#result")
        return client.get(resp.headers["Location"]).get_data(as_text=True)

    refused = step("clerk", "verified")
    # the refusal sits beside the step's form, where the page opens (#result), not above the screen
    shown = lxml.html.fromstring(refused).get_element_by_id("result")
    assert "须签订承诺授权书" in shown.text_content() and shown.getparent().get("id") == "identification"
    assert refused.count("须签订承诺授权书") == 1
    assert record(conn, hid).get("identification") is None  # a refused step changes nothing
    assert "由乡镇记录" in step("village_a", "verified", consent="1")  # the village may not verify
    assert 'id="ident-step">入户核实' in step("clerk", "verified", consent="1")
    assert "下一步“民主评议、公示”由村两委记录" in client.get(case).get_data(as_text=True)
    assert "由村两委记录" in step("clerk", "village_reviewed", publicity_start=local_today().isoformat())
    page = step("village_a", "village_reviewed", publicity_start=local_today().isoformat())  # the server's day
    assert 'id="ident-step">民主评议、公示' in page
    assert "公示不少于5天" in step("clerk", "township_reviewed")
    ident = record(conn, hid)["identification"]
    assert [(h["step"], h["role"], h["by"]) for h in ident["history"]] == [
        ("verified", "clerk", "clerk"), ("village_reviewed", "village", "village_a")]  # fmt: skip
    steps = [(e["before"], e["after"]) for e in audit_entries(conn, hid) if e["action"] == "household.identification"]
    assert sorted(steps, key=str) == [({"step": "flagged"}, {"step": "verified"}),
                                      ({"step": "verified"}, {"step": "village_reviewed"})]  # fmt: skip
    # green channel: the county includes at once, and a measure (a record) before approval
    assert "先行纳入" in step("county", "provisional", category="sudden_hardship")
    assert record(conn, hid)["identification"]["provisional"]["by"] == "county"
    sign_in(client, "clerk")
    page = client.get(case).get_data(as_text=True)
    assert 'id="owed"' in page and "县级审定" in page
    client.post(f"/clerk/households/{hid}/measures", data={**form_fields(page), "type": "temporary_relief",
                "unit": "镇民政办", "official": "张干部", "amount": "2000", "first_relief": "1"})  # fmt: skip
    [measure] = record(conn, hid)["identification"]["measures"]
    assert (measure["type"], measure["amount"], measure["paperwork_owed"]) == (
        "temporary_relief",
        2000,
        ["reason", "amount", "signatures"],
    )
    page = client.get(case).get_data(as_text=True)
    assert "临时救助" in page and "签字手续" in page
    # the village committee's screens: its own work, no review queue, no ID numbers
    sign_in(client, "village_a")
    assert client.get("/clerk/queue").status_code == 403 and client.get(f"/clerk/households/{hid}").status_code == 403
    mine = client.get("/clerk/identification?mine=1").get_data(as_text=True)
    assert f'data-id="{hid}"' not in mine  # the township reviews next, not the village
    for secret in (records.HEAD_ID, "13912345678", records.SPOUSE_ID):
        assert secret not in client.get(case).get_data(as_text=True)
    # the public notice lists the household, never its numbers or health
    notice = client.get("/clerk/notice").get_data(as_text=True)
    assert hid in notice and "王秀英" in notice
    for secret in (records.HEAD_ID, "13912345678", records.SPOUSE_ID, "chronic", "慢性病", "serious", "disabled"):
        assert secret not in notice
    # the lists the township reports: the warning list of the half month it was flagged in, the
    # register with each step's day, the national layout (included provisionally)
    ident = record(conn, hid)["identification"]
    period = lists.half_month(dt.date.fromisoformat(ident["flagged_on"]))
    sign_in(client, "clerk")
    warnings = client.get(f"/clerk/warnings?period={period}").get_data(as_text=True)
    assert hid in warnings and "王秀英" in warnings and "高风险" in warnings
    assert hid not in client.get("/clerk/results").get_data(as_text=True)  # not approved by the county yet
    register = next(r for r in csv.DictReader(io.StringIO(
        client.get("/clerk/register.csv").get_data().decode("utf-8-sig"))) if r["户编号"] == hid)  # fmt: skip
    assert register["入户核实"] and register["民主评议、公示"] and register["先行纳入"] == ident["provisional"]["on"]
    assert register["监测对象类别"] == "突发严重困难户" and register["帮扶措施"].startswith("临时救助")
    assert register["待补手续"] and records.HEAD_ID not in str(register)
    national = client.get("/clerk/export/national.csv").get_data().decode("utf-8-sig")
    row = next(r for r in csv.DictReader(io.StringIO(national)) if r["户编号"] == hid)
    assert row["户主证件号码"] != records.HEAD_ID and row["户主证件号码"].endswith(records.HEAD_ID[-4:])
    assert row["识别监测时间"] == ident["provisional"]["on"][:7].replace("-", "") and row["风险是否已消除"] == "否"
    whole = client.get("/clerk/export/national.csv?numbers=whole").get_data().decode("utf-8-sig")
    assert records.HEAD_ID in whole
    people = list(csv.DictReader(io.StringIO(client.get("/clerk/export/national.csv?sheet=家庭成员")
                                             .get_data().decode("utf-8-sig"))))  # fmt: skip
    assert [p["户编号"] for p in people] == [hid] * 3 and people[0]["与户主关系"] == "户主"
    assert records.HEAD_ID not in str(people) and {p["健康状况"] for p in people} <= {"***", ""}
    exported = audit_entries(conn, "export:national")
    assert [e["after"]["whole_numbers"] for e in exported] == [False, True, False]
    bad = client.get("/clerk/warnings?period=2026-13-1")
    assert bad.status_code == 400 and "上半月" in bad.text and "1st-15th" in bad.text
    sign_in(client, "village_a")  # the village sees its own lists, never the national layout's numbers
    assert hid in client.get("/clerk/register").get_data(as_text=True)
    assert client.get("/clerk/export/national.csv").status_code == 403
    sign_in(client, "county_other")  # another county sees nothing of it
    assert client.get(case).status_code == 404 and hid not in client.get("/clerk/identification").get_data(as_text=True)
    assert hid not in client.get("/clerk/register").get_data(as_text=True)
    assert hid not in client.get(f"/clerk/warnings?period={period}").get_data(as_text=True)


def audit_entries(conn, target: str) -> list[dict]:
    from sync import audit

    return audit.entries_for(conn.admin, target)


def medium_household(conn, village: str) -> str:
    """A roster household whose only damage is a minor one to a house that is not its only dwelling (M1)."""
    roster(conn, village, 1)
    hid = f"{village}-0001"
    damage = records.submission("damage_survey", "d-medium", village_code=village, household_id=hid)
    damage["data"].update(house_damage="minor", only_dwelling="no", casualties=[], injured_serious=0,
                          relocated="none", crop_loss_band="none", direct_loss_yuan=0, water_cut_days=0,
                          income_drop_pct=0, loans_due="no")  # fmt: skip
    damage.pop("_rev")
    push(conn, village, damage)
    run(conn)
    return hid


def test_a_clerk_overrides_the_tier_with_a_reason_shown_beside_the_computed_one(client, conn, township):
    a = township.a
    hid = medium_household(conn, a)
    sign_in(client)
    assert record(conn, hid)["tier"]["tier"] == "medium"
    page = client.get(f"/clerk/households/{hid}").get_data(as_text=True)
    fields = {"csrf_token": TOKEN.search(page).group(1), "action_key": "o" + KEY.search(page).group(1)}
    refused = client.post(f"/clerk/households/{hid}/override", data={**fields, "tier": "high", "reason": ""})
    assert "至少4个字" in client.get(refused.headers["Location"]).get_data(as_text=True)
    client.post(f"/clerk/households/{hid}/override", data={**fields, "tier": "high", "reason": "户主突发重病无人照料"})
    client.post(
        f"/clerk/households/{hid}/override", data={**fields, "tier": "low", "reason": "重复提交的表单"}
    )  # same key
    tier = record(conn, hid)["tier"]
    assert (tier["tier"], tier["computed_tier"], tier["override"]["by"]) == ("high", "medium", "clerk")
    shown = client.get(f"/clerk/households/{hid}").get_data(as_text=True)
    assert "计算结果为中风险" in shown and "户主突发重病无人照料" in shown
    assert conn.admin.get(names.village_db(a), f"household:{hid}")["tier"] == "high"  # the tablets follow
    assert [e["action"] for e in audit_entries(conn, hid)].count("household.override") == 1
    sign_in(client, "village_a")
    assert (
        client.post(
            f"/clerk/households/{hid}/override", data={**fields, "tier": "low", "reason": "村里认为不需要"}
        ).status_code
        == 403
    )


def test_the_measures_register_lists_relief_given_first_with_its_paperwork_owed(client, conn, township):
    from test_roles import flagged_household

    hid = flagged_household(conn, township.a)
    sign_in(client)
    page = client.get(f"/clerk/identification/{hid}").get_data(as_text=True)
    for n, (kind, first) in enumerate((("temporary_relief", "1"), ("housing", ""))):
        client.post(f"/clerk/households/{hid}/measures", data={"csrf_token": TOKEN.search(page).group(1),
                    "action_key": f"m{n}" + KEY.search(page).group(1), "type": kind, "unit": "镇民政办",
                    "amount": "1500", "first_relief": first})  # fmt: skip
    listed = client.get("/clerk/measures").get_data(as_text=True)
    assert listed.count(f">{hid}</a>") == 2 and "临时救助" in listed and "住房安全保障" in listed
    owed = client.get("/clerk/measures?owed=1").get_data(as_text=True)
    assert owed.count(f">{hid}</a>") == 1 and "签字手续" in owed
    exported = client.get("/clerk/measures.csv?owed=1").get_data(as_text=True).lstrip("\ufeff").splitlines()
    assert (
        exported[0].startswith("村,户编号,户主,帮扶措施,责任单位") and len(exported) == 2 and "临时救助" in exported[1]
    )
    sign_in(client, "clerk_other")
    assert hid not in client.get("/clerk/measures").get_data(as_text=True)
