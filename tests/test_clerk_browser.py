"""The clerk app in real headless Chromium, with a real PouchDB tablet, the worker and gunicorn:
sign in, filter, bulk-approve and undo, keyboard review, return with a comment that arrives on the
tablet, and the correction coming back as an edit. Screenshots of each page land in
``artifacts/screenshots``."""

from __future__ import annotations

import json

import pytest
from browser import shot, text_of, wait
from conftest import PASSWORD, wait_for
from selenium.webdriver.common.by import By

from server.pipeline import household_store
from sync import names

pytestmark = [pytest.mark.slow, pytest.mark.browser]


@pytest.fixture
def browser(chromium):
    chromium.delete_all_cookies()
    return chromium


def reviews(conn, village: str) -> dict[str, dict]:
    return {r["submission_id"]: r for r in conn.admin.iter_prefix(names.village_db(village), "review:")}


def sign_in(browser, url: str, name: str = "clerk") -> None:
    browser.get(url + "/clerk/")
    wait(browser, lambda d: "/clerk/login" in d.current_url)
    browser.find_element(By.ID, "name").send_keys(name)
    browser.find_element(By.ID, "password").send_keys(PASSWORD)
    browser.find_element(By.ID, "login-submit").click()


def shown(browser, check, message: str) -> None:
    """Reload until ``check()`` holds: lists follow the databases within a second (the read model)."""

    def again():
        browser.refresh()
        return check()

    if not check():
        wait_for(again, timeout=10, interval=0.3, message=message)


def states_in_queue(browser) -> dict[str, str]:
    return {
        row.get_attribute("data-id"): row.find_element(By.CSS_SELECTOR, ".badge.state-badge").text
        for row in browser.find_elements(By.CSS_SELECTOR, "#queue tbody tr")
    }


def test_clerk_reviews_a_tablets_surveys_and_a_returned_one_comes_back_corrected(
    browser, conn, township, web, tablet, spawn
):
    household_store.add_roster(
        conn.admin,
        township.a,
        {f"{township.a}-{i:04d}": {"head_name": f"户主{i}"} for i in range(1, 13)},
        "2026-11-01T00:00:00Z",
    )
    spawn("worker")
    pad = tablet("a")
    pad.login(web.url, "gw_a")
    pad.run("pull")
    created = pad.run("create", "--count", "4")["created"]
    pad.run("push")
    wait_for(lambda: len(reviews(conn, township.a)) == 4, timeout=60, message="4 reviews")

    sign_in(browser, web.url)
    wait(browser, lambda d: d.current_url.endswith("/clerk/dashboard"))
    shown(browser, lambda: text_of(browser, "#total-pending") == "4", "4 pending on the dashboard")
    assert text_of(browser, "#table-pending") == "4"  # the card and its table count the same
    row = browser.find_element(By.CSS_SELECTOR, f'#villages tr[data-village="{township.a}"]')
    assert "石坪村" in row.text and "外乡村" not in browser.page_source
    shot(browser, "dashboard")

    # the queue, filtered to village A and damage surveys
    browser.find_element(By.ID, "nav-queue").click()
    browser.find_element(By.CSS_SELECTOR, f'#f-village option[value="{township.a}"]').click()
    browser.find_element(By.CSS_SELECTOR, '#f-form option[value="damage_survey"]').click()
    browser.find_element(By.ID, "filter").click()
    wait(browser, lambda d: "village=" in d.current_url)
    assert len(states_in_queue(browser)) == 4
    shot(browser, "queue")

    # bulk-approve two, then undo, then approve them again
    first, second, third, fourth = (c.split(":", 1)[1] for c in created)
    for uuid in (first, second):
        browser.find_element(By.CSS_SELECTOR, f'input.pick[value="{uuid}"]').click()
    assert "已选 2 条" in text_of(browser, "#selected-count")
    browser.find_element(By.ID, "bulk-approve").click()
    wait(browser, lambda d: "成功 2 条" in d.page_source)
    assert {reviews(conn, township.a)[f"submission:{u}"]["state"] for u in (first, second)} == {"approved"}
    assert set(states_in_queue(browser)) == {third, fourth}  # approved ones left the pending view
    browser.find_element(By.ID, "undo").click()
    wait(browser, lambda d: "撤销：成功 2 条" in d.page_source)
    assert {reviews(conn, township.a)[f"submission:{u}"]["state"] for u in (first, second)} == {"received"}
    assert set(states_in_queue(browser)) == {first, second, third, fourth}

    # keyboard: move to a row, select it, approve
    order = list(states_in_queue(browser))
    body = browser.find_element(By.TAG_NAME, "body")
    body.send_keys("j")
    body.send_keys("x")
    body.send_keys("a")
    wait(browser, lambda d: "成功 1 条" in d.page_source)
    assert reviews(conn, township.a)[f"submission:{order[0]}"]["state"] == "approved"

    # return one with a comment; the grid worker sees it on the tablet after a pull
    target = order[1]
    browser.find_element(By.CSS_SELECTOR, f'input.pick[value="{target}"]').click()
    browser.find_element(By.ID, "comment").send_keys("请补拍房屋照片，并核实倒塌间数")
    browser.find_element(By.ID, "bulk-return").click()
    wait(browser, lambda d: "退回：成功 1 条" in d.page_source)
    pad.run("pull")
    seen = pad.run("get", "--db", names.village_db(township.a), "--id", f"review:{target}")["doc"]
    assert seen["state"] == "returned" and seen["comments"][-1]["text"] == "请补拍房屋照片，并核实倒塌间数"

    # the grid worker corrects it offline and syncs: it comes back as an edit
    pad.run("edit", "--id", f"submission:{target}", "--values", json.dumps({"rooms_damaged": 2}))
    pad.run("push")
    wait_for(
        lambda: reviews(conn, township.a)[f"submission:{target}"]["state"] == "edited", timeout=60, message="edited"
    )
    browser.get(web.url + "/clerk/queue")
    shown(browser, lambda: states_in_queue(browser).get(target) == "已修改待审", "the edit in the queue")

    # its page: labelled answers, the comment, the history
    browser.find_element(By.CSS_SELECTOR, f'tr[data-id="{target}"] a.open').click()
    wait(browser, lambda d: "/clerk/submissions/" in d.current_url)
    answers = text_of(browser, "#answers")
    assert "住房受损程度" in answers and "受损房屋间数 2" in answers and "rooms_damaged" not in answers  # corrected
    assert "请补拍房屋照片" in text_of(browser, "#comments")
    shot(browser, "submission")

    # English is one click away
    browser.find_element(By.ID, "lang-en").click()
    wait(browser, lambda d: "Review queue" in d.page_source)
    assert "Comments" in browser.page_source

    browser.find_element(By.ID, "logout").click()
    wait(browser, lambda d: "/clerk/login" in d.current_url)
    shot(browser, "login")


def test_clerk_resolves_a_conflict_exports_xlsx_and_walks_the_identification_pages(browser, conn, township, web,
                                                                                    tmp_path):  # fmt: skip
    import records
    from openpyxl import load_workbook
    from test_household_api import conflicted
    from test_household_worker import push, run

    hid = conflicted(conn, township.a)
    damage = records.submission("damage_survey", "d-browser", village_code=township.a, household_id=hid)
    damage.pop("_rev")
    push(conn, township.a, damage)
    run(conn)
    sign_in(browser, web.url)
    wait(browser, lambda d: d.current_url.endswith("/clerk/dashboard"))
    shown(browser, lambda: browser.find_elements(By.CSS_SELECTOR, "#map circle.dot.high"), "the red dot on the map")
    shot(browser, "dashboard-with-data")

    # households: filter to hard conflicts, open the household, resolve side by side
    browser.find_element(By.ID, "nav-households").click()
    browser.find_element(By.CSS_SELECTOR, '#f-conflict option[value="hard"]').click()
    browser.find_element(By.ID, "filter").click()
    wait(browser, lambda d: "conflict=hard" in d.current_url)
    shot(browser, "households")
    browser.find_element(By.CSS_SELECTOR, f'tr[data-id="{hid}"] a').click()
    wait(browser, lambda d: d.find_elements(By.ID, "conflict-table"))
    assert "H1" in text_of(browser, "#rules") and text_of(browser, "#tier") == "高风险"
    shot(browser, "household-conflict")
    row = browser.find_element(By.CSS_SELECTOR, '#conflict-table tr[data-property="phone"]')
    assert "13800138000" in row.find_element(By.CSS_SELECTOR, "td.base").text
    row.find_element(By.CSS_SELECTOR, 'input[value="\\"13900139000\\""]').click()
    browser.find_element(By.ID, "resolve-submit").click()
    wait(browser, lambda d: "已处理：第 5 版" in d.page_source)
    assert not browser.find_elements(By.ID, "conflict-table")
    assert conn.admin.get(names.CASES, f"household:{hid}")["properties"]["phone"] == "13900139000"

    # identification: the household is flagged; verify it with the consent form signed
    assert text_of(browser, "#ident-step") == "风险预警"
    shot(browser, "household")
    browser.find_element(By.ID, "identification-link").click()
    wait(browser, lambda d: d.find_elements(By.ID, "advance"))
    browser.find_element(By.ID, "consent").click()
    browser.find_element(By.ID, "advance-submit").click()
    wait(browser, lambda d: text_of(d, "#ident-step") == "入户核实")
    assert "由村两委记录" in text_of(browser, "#waiting") and not browser.find_elements(By.ID, "advance")
    browser.find_element(By.ID, "nav-identification").click()
    wait(browser, lambda d: d.find_elements(By.ID, "identification-list"))
    assert hid in text_of(browser, "#identification-list")
    shot(browser, "identification")
    browser.find_element(By.ID, "nav-notice").click()
    wait(browser, lambda d: d.find_elements(By.ID, "notice-identification"))
    shot(browser, "notice")
    # the tablets page over plain http says why ODK Collect would not send a password
    browser.get(web.url + "/clerk/devices")
    wait(browser, lambda d: d.find_elements(By.ID, "devices"))
    assert browser.find_element(By.ID, "odk-https").is_displayed() and "https" in text_of(browser, "#odk-https")
    shot(browser, "devices")

    # export the households as XLSX through the browser and open the file
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    browser.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    browser.find_element(By.ID, "nav-export").click()
    wait(browser, lambda d: d.find_elements(By.ID, "export-households"))
    shot(browser, "export")
    browser.find_element(By.ID, "export-households-xlsx").click()
    [file] = wait_for(lambda: [p for p in downloads.glob("*.xlsx") if p.stat().st_size], message="the XLSX download")
    book = load_workbook(file, read_only=True)
    rows = list(book["农户"].iter_rows(values_only=True))
    assert rows[0][0] == "户编号" and hid in [r[0] for r in rows[1:]]
    phone = rows[0].index("联系电话")
    assert next(r for r in rows[1:] if r[0] == hid)[phone] == "139****9000"  # masked unless asked
