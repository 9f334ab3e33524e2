"""The field app (``/app/``) in headless Debian Chromium: a grid worker's day, offline.

The real system under gunicorn with the worker; the app is the Vite build ``scripts/install`` made,
its service worker, PouchDB on IndexedDB and ODK Web Forms, driven through its own UI
(:mod:`field_app`). The network is cut with Playwright's offline switch, which the service worker
and every fetch obey; the camera is Chromium's fake device playing a QR code.
"""

from __future__ import annotations

import datetime as dt
import io
import json

import pytest
import requests
from conftest import PASSWORD, wait_for
from field_app import (
    PHONE,
    TABLET,
    choose,
    fill_required,
    indexeddb_docs,
    launch,
    new_tablet,
    offline_ready,
    pending,
    pick_date,
    question,
    shot,
    sign_in,
    signed_in,
    type_in,
    until,
    uploaded,
    y4m,
)
from PIL import Image
from playwright.sync_api import sync_playwright

from server.access import enrolment
from server.access.accounts import add_user
from server.pipeline import event_store, household_store
from server.web import qr
from sync import names

pytestmark = [pytest.mark.browser, pytest.mark.slow]

HEADS = ["王建国", "李秀英", "张志强", "刘玉珍", "陈德明", "杨桂兰"]


@pytest.fixture
def village(conn, township, web, spawn, password_hash):
    """Village A with a roster of six households and an open flood, the worker running."""
    roster = {f"{township.a}-{i:04d}": {"head_name": HEADS[i - 1]} for i in range(1, 7)}
    household_store.add_roster(conn.admin, township.a, roster, "2026-11-01T00:00:00Z")
    today = dt.date.today()
    start = today - dt.timedelta(days=3)
    event_store.open_event(conn.admin, township.a[:9], "flood", start, [township.a], "clerk", today)
    spawn("worker")
    return township.a


def reviews(conn, village: str) -> dict[str, dict]:
    docs = conn.admin.iter_prefix(names.village_db(village), "review:")
    return {d["submission_id"]: d for d in docs}


def submissions(conn, village: str) -> dict[str, dict]:
    return {d["_id"]: d for d in conn.admin.iter_prefix(names.village_db(village), "submission:")}


def surveyed(page) -> None:
    """The survey was saved: the app left the form for the outbox."""
    page.wait_for_selector("#pending-count", timeout=30_000)


def start(page, button: str) -> None:
    page.click(button)
    ready(page)


def ready(page) -> None:
    """The form is on screen and ready to fill (or the app says why not)."""
    try:
        page.wait_for_selector("body[data-survey=ready], body[data-survey=failed]", state="attached", timeout=60_000)
    except Exception as exc:
        shot(page, "fieldapp-failed", full=True)
        raise AssertionError(f"no form at {page.url}: {page.inner_text('body')[:500]!r} {page.errors}") from exc
    if page.get_attribute("body", "data-survey") == "failed":
        shot(page, "fieldapp-failed", full=True)
        raise AssertionError(f"the form did not open: {page.inner_text('#survey-status')!r} {page.errors}")


def new_household_survey(page) -> None:
    start(page, "#new-household")
    choose(page, "已签署承诺授权书", "是")
    type_in(page, "户主姓名", "赵新民")
    type_in(page, "户主身份证号", "500112198003150019")
    type_in(page, "姓名", "赵新民")
    pick_date(page, "出生日期", dt.date(1980, 3, 15))
    fill_required(page)
    surveyed(page)


def collapsed_house_survey(page) -> None:
    """The damage survey of a household whose only home collapsed: high risk."""
    start(page, "#start-damage")
    choose(page, "已签署承诺授权书", "是")
    choose(page, "住房受损程度", "倒塌")
    type_in(page, "倒塌间数", "3")
    choose(page, "受损房屋是唯一住房", "是")
    choose(page, "目前有安全住所", "否")
    choose(page, "能否依靠自身力量恢复住房和生产", "不能")
    fill_required(page)
    surveyed(page)


def test_offline_surveys_sync_come_back_reviewed_and_a_returned_one_is_resent(conn, village, web, tmp_path):
    scanned = f"{village}-0003"
    camera = y4m(qr.png(qr.household(scanned)), tmp_path / "door-card.y4m")
    with sync_playwright() as p:
        browser, context, page = signed_in(p, web.url, "gw_a", PASSWORD, camera)
        assert page.locator("#households li[data-household]").count() == 6
        shot(page, "fieldapp-households-first-visit-tablet")

        # The network goes; the app opens again from the service worker and IndexedDB.
        context.set_offline(True)
        page.reload()
        page.wait_for_selector("#households li[data-household]", timeout=30_000)
        assert "离线" in page.inner_text("#sync-badge")

        new_household_survey(page)  # 1: a household not on the roster
        assert pending(page) == 1

        page.click("#nav-households")
        page.click("#scan-door")  # 2: the door card, through the camera
        page.wait_for_selector("#household", timeout=30_000)
        assert page.inner_text("#household h1") == f"0003 {HEADS[2]}"
        start(page, "#start-household")
        choose(page, "已签署承诺授权书", "是")
        head = question(page, "户主姓名").locator("input").first
        wait_for(lambda: head.input_value() == HEADS[2], timeout=10, message="the roster's head filled in")
        shot(page, "fieldapp-survey-prefilled-tablet")
        type_in(page, "姓名", HEADS[2])
        pick_date(page, "出生日期", dt.date(1962, 7, 1))
        fill_required(page)
        surveyed(page)

        page.click("#nav-households")  # 3: a damage survey from the list
        page.click(f'#households li[data-household="{village}-0005"] a')
        collapsed_house_survey(page)
        assert pending(page) == 3
        page.reload()  # an app restart offline loses nothing
        page.wait_for_selector("#pending-count", timeout=30_000)
        assert pending(page) == 3 and page.get_attribute("#pending-count", "data-count") == "3"
        shot(page, "fieldapp-outbox-3-pending-tablet")
        assert not submissions(conn, village), "nothing reached the server while offline"

        # Back online: the outbox empties, the reviews and the tier come down.
        context.set_offline(False)
        uploaded(page, "pending 0")
        wait_for(lambda: len(reviews(conn, village)) == 3, timeout=60, message="3 reviews")
        page.goto(f"{web.url}/app/#/h/{village}-0005")

        def high() -> bool:
            page.goto(f"{web.url}/app/#/h/{village}-0005")
            page.wait_for_selector("#household-tier")
            return page.inner_text("#household-tier") == "高"

        wait_for(high, timeout=60, message="the tier on the tablet")
        assert "唯一住房倒塌" in page.inner_text("#household-reasons")  # the reason, in words
        assert page.inner_text("#household-measures")
        shot(page, "fieldapp-household-high-risk-tablet")

        stored = submissions(conn, village)
        damage = next(d for d in stored.values() if d["form_id"] == "damage_survey")
        assert damage["data"]["house_damage"] == "collapsed" and damage["data"]["rooms_collapsed"] == 3
        assert damage["household_id"] == f"{village}-0005" and damage["submitted_by"] == "gw_a"
        scan = next(d for d in stored.values() if d["household_id"] == scanned)
        assert scan["form_id"] == "household_survey" and scan["data"]["head_name"] == HEADS[2]
        new = next(d for d in stored.values() if d["household_id"].startswith("new-"))
        assert new["data"]["head_id_number"] == "500112198003150019"
        assert sorted(d["device_seq"] for d in stored.values()) == [1, 2, 3]

        # A clerk sends the damage survey back; the comment reaches the tablet.
        uuid = damage["_id"].split(":", 1)[1]
        answer = requests.post(
            f"{web.url}/api/v1/submissions/review",
            json={"ids": [uuid], "action": "return", "comment": "倒塌间数请再核实"},
            auth=("clerk", PASSWORD),
            timeout=30,
        )
        assert answer.status_code == 200, answer.text

        def returned_shown() -> bool:
            page.goto(f"{web.url}/app/#/returned")
            page.wait_for_selector("main h1")
            return page.locator("#returned blockquote.comment").count() == 1

        wait_for(returned_shown, timeout=60, message="the returned survey on the tablet")
        assert "倒塌间数请再核实" in page.inner_text("#returned")
        shot(page, "fieldapp-returned-with-comment-tablet")

        # Edit and resend: a new revision of the same submission, `edited` in the clerk's queue.
        page.click(f'#returned li[data-submission="{damage["_id"]}"] a.button')
        ready(page)
        box = question(page, "倒塌间数").locator("input").first
        assert box.input_value() == "3", "the returned survey did not open with its answers"
        type_in(page, "倒塌间数", "2")
        fill_required(page)
        surveyed(page)
        uploaded(page, "resent")

        def edited() -> dict | None:
            review = reviews(conn, village).get(damage["_id"])
            return review if review and review["state"] == "edited" else None

        review = wait_for(edited, timeout=60, message="edited in the queue")
        resent = conn.admin.get(names.village_db(village), damage["_id"])
        assert resent["_rev"].startswith("2-") and resent["data"]["rooms_collapsed"] == 2
        assert review["submission_rev"] == resent["_rev"]
        queue = requests.get(f"{web.url}/api/v1/submissions?state=edited", auth=("clerk", PASSWORD), timeout=30).json()
        assert [s["id"] for s in queue["submissions"]] == [uuid]

        # The device never kept the password: only its own device credential.
        kept = page.evaluate("() => Object.assign({}, localStorage)")
        assert PASSWORD not in json.dumps(kept) + json.dumps(indexeddb_docs(page, bodies=True))
        assert not page.errors, page.errors
        browser.close()


def test_a_colleagues_surveys_and_reviews_never_reach_a_second_tablet_of_the_village(conn, village, web, password_hash):
    add_user(conn.admin, "gw_a2", PASSWORD, "field", [village], password_hash=password_hash)
    with sync_playwright() as p:
        browser = launch(p)
        _, first = new_tablet(browser)
        _, second = new_tablet(browser)
        sign_in(first, web.url, "gw_a", PASSWORD)
        sign_in(second, web.url, "gw_a2", PASSWORD)
        for page in (first, second):  # each surveys one household (consent refused: the shortest survey)
            page.click(f'#households li[data-household="{village}-0001"] a')
            start(page, "#start-damage")
            choose(page, "已签署承诺授权书", "否")
            fill_required(page)
            surveyed(page)
        wait_for(lambda: len(reviews(conn, village)) == 2, timeout=60, message="2 reviews")
        for page in (first, second):
            uploaded(page, "pushed")
        by = {d["submitted_by"]: d["_id"] for d in submissions(conn, village).values()}

        def holds(page) -> set[str]:
            return {d["id"] for d in indexeddb_docs(page) if d["id"].startswith(("submission:", "review:"))}

        def own(name: str) -> set[str]:
            return {by[name], "review:" + by[name].split(":", 1)[1]}

        # both reviews came down to their own tablets, and nothing else of the kind
        wait_for(lambda: holds(first) == own("gw_a"), timeout=60, message="the first tablet's own review")
        wait_for(lambda: holds(second) == own("gw_a2"), timeout=60, message="the second tablet's own review")
        assert sum(d["id"].startswith("household:") for d in indexeddb_docs(second)) == 6
        # and a colleague's survey is not to be had through the gateway with the device's credential
        row = next(d for d in indexeddb_docs(second, bodies=True) if d["id"] == "_local/device")["body"]
        credential = row["revs"][row["rev"]]["data"]
        assert credential["password"].startswith("device.") and credential["user"] == "gw_a2"
        theirs = requests.get(
            f"{web.url}/sync/{names.village_db(village)}/{by['gw_a']}",
            auth=("gw_a2", credential["password"]),
            timeout=30,
        )
        assert theirs.status_code == 404
        browser.close()


def test_a_tablet_is_enrolled_by_scanning_the_clerks_qr_code(conn, village, web, tmp_path):
    now = dt.datetime.now(dt.UTC)
    token = enrolment.create(conn.admin, "gw_a", "clerk", now)
    payload = qr.enrolment(web.url, "gw_a", ["fp_forms", names.village_db(village)], token.token, token.expires_at)
    camera = y4m(qr.png(payload), tmp_path / "enrol.y4m")
    with sync_playwright() as p:
        browser = launch(p, camera)
        _, page = new_tablet(browser)
        page.goto(web.url + "/app/")
        shot(page, "fieldapp-enrol-tablet")
        page.click("#scan-enrol")
        page.wait_for_selector("#households li[data-household]", timeout=60_000)
        devices = enrolment.devices(conn.admin, "gw_a")
        assert len(devices) == 1 and devices[0]["device_id"].startswith("app-")
        # a used code is refused with the server's reason, in Chinese, on the next device
        _, again = new_tablet(browser)
        again.goto(web.url + "/app/")
        again.fill("#enrol-payload", payload)
        again.click("#enrol-paste")
        again.wait_for_selector("#enrol-error:not(:empty)")
        assert "入网码已使用过" in again.inner_text("#enrol-error")
        browser.close()


def test_every_screen_fits_a_tablet_and_a_phone(conn, village, web):
    with sync_playwright() as p:
        browser = launch(p)
        for size, label in ((TABLET, "tablet"), (PHONE, "phone")):
            context, page = new_tablet(browser, size)
            page.goto(web.url + "/app/")
            page.wait_for_selector("#signin-name")
            shot(page, f"fieldapp-enrol-{label}", full=True)
            sign_in(page, web.url, "gw_a", PASSWORD)
            offline_ready(page)
            screens = {
                "households": "#/",
                "household": f"#/h/{village}-0002",
                "drafts": "#/drafts",
                "outbox": "#/outbox",
                "returned": "#/returned",
                "status": "#/status",
            }
            for name, hash_ in screens.items():
                page.goto(f"{web.url}/app/{hash_}")
                page.wait_for_selector("main h1, #households")
                overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
                assert overflow <= 0, f"{name} is {overflow} px wider than the {label} screen"
                shot(page, f"fieldapp-{name}-{label}", full=True)
            page.goto(f"{web.url}/app/#/s/damage_survey/{village}-0002")
            ready(page)
            choose(page, "已签署承诺授权书", "是")
            page.click("#save-draft")
            page.wait_for_selector("#drafts li")
            shot(page, f"fieldapp-drafts-{label}", full=True)
            page.goto(f"{web.url}/app/#/s/damage_survey/{village}-0002")
            ready(page)
            shot(page, f"fieldapp-survey-{label}")
            page.click("#lang")
            page.goto(f"{web.url}/app/#/status")
            page.wait_for_selector("#status")
            assert "Last sync" in page.inner_text("#status")
            shot(page, f"fieldapp-status-en-{label}", full=True)
            assert not page.errors, page.errors
            context.close()
        browser.close()


def test_a_reviewed_survey_older_than_30_days_leaves_the_device_and_stays_on_the_server(conn, village, web):
    with sync_playwright() as p:
        browser, _, page = signed_in(p, web.url, "gw_a", PASSWORD)

        def quick_survey(household: str) -> None:
            page.goto(f"{web.url}/app/#/h/{household}")
            start(page, "#start-damage")
            choose(page, "已签署承诺授权书", "否")
            fill_required(page)
            surveyed(page)

        quick_survey(f"{village}-0001")
        wait_for(lambda: len(reviews(conn, village)) == 1, timeout=60, message="the review")
        (sub_id,) = submissions(conn, village)
        uuid = sub_id.split(":", 1)[1]
        approved = requests.post(f"{web.url}/api/v1/submissions/review", json={"ids": [uuid], "action": "approve"},
                                 auth=("clerk", PASSWORD), timeout=30)  # fmt: skip
        assert approved.status_code == 200, approved.text
        # forty days on: the review as the server would hold it then
        review = conn.admin.get(names.village_db(village), f"review:{uuid}")
        aged = (dt.datetime.now(dt.UTC) - dt.timedelta(days=40)).strftime("%Y-%m-%dT%H:%M:%SZ")
        conn.admin.put(names.village_db(village), {**review, "updated_at": aged})
        current = conn.admin.get(names.village_db(village), f"review:{uuid}")["_rev"]

        def held() -> dict[str, dict]:
            return {
                d["id"]: d["body"] for d in indexeddb_docs(page, bodies=True) if d["id"] in (sub_id, f"review:{uuid}")
            }

        wait_for(lambda: held().get(f"review:{uuid}", {}).get("rev") == current, timeout=60, message="aged review down")
        page.reload()  # the app purges when it starts
        until(page, "() => document.body.dataset.purged === '1'", message="purged")
        assert held() == {}
        quick_survey(f"{village}-0002")  # syncing goes on, and the purged ones do not come back
        wait_for(lambda: len(reviews(conn, village)) == 2, timeout=60, message="the second review")
        uploaded(page, "pushed")
        assert held() == {}
        assert conn.admin.get(names.village_db(village), sub_id) is not None  # never from the server
        assert conn.admin.get(names.village_db(village), f"review:{uuid}")["state"] == "approved"
        browser.close()


def test_a_push_cut_mid_way_loses_and_doubles_nothing_and_a_photo_is_made_small(conn, village, web, tmp_path):
    photo = tmp_path / "consent.png"
    Image.effect_noise((4000, 3000), 60).convert("RGB").save(photo)  # a phone camera's size, noisy
    with sync_playwright() as p:
        browser, _, page = signed_in(p, web.url, "gw_a", PASSWORD)
        cut = {"n": 0}

        def drop_first_push(route) -> None:  # the connection dies under the first two pushes
            if route.request.method == "POST" and cut["n"] < 2:
                cut["n"] += 1
                route.abort("connectionreset")
            else:
                route.continue_()

        page.route("**/sync/*/_bulk_docs", drop_first_push)
        page.click(f'#households li[data-household="{village}-0004"] a')
        start(page, "#start-damage")
        choose(page, "已签署承诺授权书", "是")
        with page.expect_file_chooser() as chooser:  # the camera roll, as the worker picks from it
            question(page, "承诺授权书照片").get_by_role("button", name="Choose image").click()
        chooser.value.set_files(str(photo))
        fill_required(page)
        surveyed(page)
        uploaded(page, "pushed at last")
        assert cut["n"] == 2
        wait_for(lambda: len(reviews(conn, village)) == 1, timeout=60, message="one review")
        (doc,) = submissions(conn, village).values()
        assert doc["_rev"].startswith("1-"), "the retried push wrote a second revision"
        name = doc["data"]["consent_photo"]
        stub = doc["_attachments"][name]
        assert stub["content_type"] == "image/jpeg"
        body = conn.admin.get_attachment(names.village_db(village), doc["_id"], name)
        with Image.open(io.BytesIO(body)) as small:
            assert max(small.size) == 1600 and small.format == "JPEG"
        assert len(body) < photo.stat().st_size / 5
        browser.close()


def test_a_clerks_resync_flag_makes_the_tablet_pull_the_village_again_after_pushing(conn, village, web):
    with sync_playwright() as p:
        browser, _, page = signed_in(p, web.url, "gw_a", PASSWORD)
        (device,) = enrolment.devices(conn.admin, "gw_a")
        wait_for(lambda: (enrolment.devices(conn.admin, "gw_a")[0].get("telemetry") or {}).get("app_version"),
                 timeout=60, message="the first report")  # fmt: skip
        enrolment.request_resync(conn.admin, "gw_a", device["device_id"], "clerk", dt.datetime.now(dt.UTC))
        page.evaluate("() => window.dispatchEvent(new Event('online'))")  # reports at once when back online

        def cleared() -> bool:
            return not enrolment.devices(conn.admin, "gw_a")[0]["resync_requested_at"]

        wait_for(cleared, timeout=120, message="the flag cleared by the tablet's report")
        page.wait_for_selector("#households li[data-household]", timeout=60_000)
        assert page.locator("#households li[data-household]").count() == 6  # pulled again
        assert sum(d["id"].startswith("household:") for d in indexeddb_docs(page)) == 6
        browser.close()
