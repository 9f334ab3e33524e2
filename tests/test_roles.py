"""The village committee and the county as accounts of their own, through real gunicorn: who may
record which identification step, what their accounts may not read, and steps raced in parallel."""

from __future__ import annotations

import threading

import records
import requests
from conftest import PASSWORD, fangpin, wait_for
from test_boundaries import clerk_session
from test_clerk_app import KEY, TOKEN
from test_household_worker import push, record, roster, run, survey

from sync import names


def flagged_household(conn, village: str) -> str:
    roster(conn, village, 1)
    hid = f"{village}-0001"
    push(conn, village, survey(village, hid))
    damage = records.submission("damage_survey", "d1", village_code=village, household_id=hid)
    damage.pop("_rev")
    push(conn, village, damage)
    run(conn)
    return hid


def post_step(session: requests.Session, web, hid: str, to: str, key: str, **form) -> requests.Response:
    page = session.get(f"{web.url}/clerk/identification/{hid}").text
    data = {"csrf_token": TOKEN.search(page).group(1), "action_key": key, "to": to, **form}
    return session.post(f"{web.url}/clerk/households/{hid}/identification", data=data, allow_redirects=False)


def test_village_and_county_accounts_read_no_records_and_sync_nothing(conn, township, web):
    hid = flagged_household(conn, township.a)
    for name in ("village_a", "county"):
        for path in ("/api/v1/submissions", f"/api/v1/households/{hid}", "/api/v1/households"):
            resp = requests.get(web.url + path, auth=(name, PASSWORD), timeout=30)
            body = resp.json()
            assert resp.status_code == 403 and body["message"]["zh"] and body["message"]["en"], (name, path)
        assert requests.get(f"{web.url}/sync/fp_v_{township.a}", auth=(name, PASSWORD), timeout=30).status_code == 403
        session = clerk_session(web, name)
        assert session.get(f"{web.url}/clerk/queue", allow_redirects=False).status_code == 403
        assert session.get(f"{web.url}/clerk/export", allow_redirects=False).status_code == 403
        page = session.get(f"{web.url}/clerk/identification/{hid}")
        assert page.status_code == 200 and records.HEAD_ID not in page.text and "nav-queue" not in page.text


def test_a_step_posted_by_a_role_that_may_not_record_it_changes_nothing(conn, township, web):
    hid = flagged_household(conn, township.a)
    village, county, clerk = (clerk_session(web, n) for n in ("village_a", "county", "clerk"))
    for session, to, form in ((village, "verified", {"consent": "1"}), (county, "verified", {"consent": "1"}),
                              (village, "provisional", {"category": "marginal"}),
                              (clerk, "provisional", {"category": "marginal"})):  # fmt: skip
        assert post_step(session, web, hid, to, "forged0001", **form).status_code == 302
        assert record(conn, hid).get("identification") is None, (to, form)
    assert post_step(clerk, web, hid, "verified", "ok00000001", consent="1").status_code == 302
    assert record(conn, hid)["identification"]["step"] == "verified"
    # another county's bureau and another village's committee cannot even find it
    outsider = clerk_session(web, "county_other")
    assert outsider.get(f"{web.url}/clerk/identification/{hid}").status_code == 404


def test_parallel_posts_of_one_step_record_it_once(conn, township, web):
    hid = flagged_household(conn, township.a)
    sessions = [clerk_session(web, "clerk") for _ in range(8)]
    pages = [s.get(f"{web.url}/clerk/identification/{hid}").text for s in sessions]
    start = threading.Barrier(len(sessions))
    codes: list[int] = []

    def go(i: int) -> None:
        data = {"csrf_token": TOKEN.search(pages[i]).group(1), "action_key": f"race{i:08d}", "to": "verified",
                "consent": "1"}  # fmt: skip
        start.wait()
        resp = sessions[i].post(f"{web.url}/clerk/households/{hid}/identification", data=data, allow_redirects=False)
        codes.append(resp.status_code)

    threads = [threading.Thread(target=go, args=(i,)) for i in range(len(sessions))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert codes == [302] * len(sessions)
    ident = record(conn, hid)["identification"]
    assert [h["step"] for h in ident["history"]] == ["verified"]  # eight distinct keys, one step
    assert KEY.search(pages[0])


def test_users_add_makes_village_and_county_accounts(conn, township, settings):
    made = fangpin(settings, "users", "add", "cun_2", "--password", PASSWORD, "--role", "village",
                   "--village", township.b).stdout  # fmt: skip
    assert "created: cun_2 (village)" in made and township.b in made
    county = fangpin(settings, "users", "add", "xian_2", "--password", PASSWORD, "--role", "county",
                     "--county", township.a[:6]).stdout  # fmt: skip
    assert "county=500112" in county
    for args, says in ((["--role", "county"], "--county"), (["--role", "county", "--county", "5001"], "6"),
                       (["--role", "village"], "--village")):  # fmt: skip
        bad = fangpin(settings, "users", "add", "bad_1", "--password", PASSWORD, *args, check=False)
        assert bad.returncode == 1 and says in bad.stderr and " / " in bad.stderr


def test_the_identification_api_is_scoped_and_guarded_like_the_screens(conn, township, web):
    hid = flagged_household(conn, township.a)
    url = f"{web.url}/api/v1/identification"

    def call(name: str, path: str = "", body: dict | None = None, key: str | None = "apikey0001"):
        headers = {"Idempotency-Key": key} if key else {}
        if body is None:
            return requests.get(url + path, auth=(name, PASSWORD), timeout=30)
        return requests.post(url + path, json=body, headers=headers, auth=(name, PASSWORD), timeout=30)

    # the web process's read model follows the databases within a second or so
    wait_for(lambda: call("village_a").json()["total"] == 1, timeout=10, interval=0.2, message="listed")
    listed = call("village_a").json()["households"]
    assert [(h["household_id"], h["next_step"], h["next_recorded_by"]) for h in listed] == [(hid, "verified", "clerk")]
    refused = call("village_a", f"/{hid}", {"to": "verified", "consent": True})
    assert refused.status_code == 409 and "由乡镇记录" in refused.json()["message"]["zh"]
    assert call("clerk", f"/{hid}", {"to": "verified", "consent": True}, key=None).status_code == 400
    for _ in range(2):  # a retried request with its key: one step
        done = call("clerk", f"/{hid}", {"to": "verified", "consent": True})
        assert done.status_code == 200 and done.json()["identification"]["step"] == "verified"
    assert [h["step"] for h in record(conn, hid)["identification"]["history"]] == ["verified"]
    assert call("village_a", "?mine=1").json()["total"] == 1  # the village review is the committee's now
    measure = call("county", f"/{hid}/measures", {"type": "temporary_relief", "unit": "县民政局", "amount": 3000},
                   key="apikey0002")  # fmt: skip
    assert measure.status_code == 200 and measure.json()["identification"]["measures"][0]["unit"] == "县民政局"
    body = call("county", f"/{hid}").json()
    assert records.HEAD_ID not in str(body) and body["next_recorded_by"] == "village"
    assert call("county_other", f"/{hid}").status_code == 404 and call("county_other").json()["total"] == 0
    assert call("gw_a").status_code == 403
    assert call("clerk", f"/{hid}", {"to": "verified", "nested": {"a": 1}}).status_code == 400


def test_the_lists_through_gunicorn_scope_refuse_strange_periods_and_keep_numbers_for_clerks(conn, township, web):
    """The 报送名单 routes as an attacker would send them, through real gunicorn: odd and huge
    periods, a format that is not one, a grid worker's and a village's reach for the national
    layout, and many downloads at once (each audited, none mixing another township in)."""
    hid = flagged_household(conn, township.a)
    clerk, village, other = (clerk_session(web, n) for n in ("clerk", "village_a", "clerk_other"))
    assert clerk.get(f"{web.url}/clerk/warnings", params={"period": "9" * 9000}).status_code == 414  # gunicorn's limit
    for period in ("2026-11-3", "2026-13-1", "../../etc", "2026-11-1\r\nX-A: b", "9" * 3000, "２０２６-11-1"):
        resp = clerk.get(f"{web.url}/clerk/warnings", params={"period": period}, allow_redirects=False)
        assert resp.status_code == 400 and "上半月" in resp.text and "1st-15th" in resp.text, period[:20]
        assert "X-A" not in resp.headers
    for path in ("/clerk/warnings.exe", "/clerk/register.json", "/clerk/export/national.pdf"):
        assert clerk.get(web.url + path, allow_redirects=False).status_code == 404, path
    assert requests.get(f"{web.url}/clerk/export/national.csv", auth=("gw_a", PASSWORD), allow_redirects=False,
                        timeout=30).status_code in (302, 403)  # fmt: skip
    assert village.get(f"{web.url}/clerk/export/national.csv?numbers=whole", allow_redirects=False).status_code == 403
    assert hid in village.get(f"{web.url}/clerk/register").text
    assert hid not in other.get(f"{web.url}/clerk/register.csv").content.decode("utf-8-sig")
    results: list[str] = []

    def download() -> None:
        results.append(clerk.get(f"{web.url}/clerk/register.csv", timeout=60).content.decode("utf-8-sig"))

    threads = [threading.Thread(target=download) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(results) == 8 and all(hid in r and r == results[0] for r in results)
    exported = [
        d["actor"] for d in conn.admin.iter_prefix(names.CASES, "audit:") if d.get("action") == "export.register"
    ]
    assert sorted(exported) == ["clerk"] * 8 + ["clerk_other"]  # every download audited, once
