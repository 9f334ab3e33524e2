"""The clerk app in real headless Chromium, with a real PouchDB tablet, the worker and gunicorn:
sign in, filter, bulk-approve and undo, keyboard review, return with a comment that arrives on the
tablet, and the correction coming back as an edit. Screenshots of each page land in
``artifacts/screenshots``."""

from __future__ import annotations

import json
import shutil

import pytest
from browser import shot, start, text_of, wait
from conftest import PASSWORD, wait_for
from selenium.webdriver.common.by import By

from sync import household_store, names

pytestmark = [pytest.mark.slow, pytest.mark.browser]


@pytest.fixture(scope="module")
def chromium():
    driver, profile = start()
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


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


def states_in_queue(browser) -> dict[str, str]:
    return {
        row.get_attribute("data-id"): row.find_element(By.CSS_SELECTOR, ".badge").text
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
    assert text_of(browser, "#total-pending") == "4"
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
    assert states_in_queue(browser)[target] == "已修改待审"

    # its page: labelled answers, the comment, the history
    browser.find_element(By.CSS_SELECTOR, f'tr[data-id="{target}"] a.open').click()
    wait(browser, lambda d: "/clerk/submissions/" in d.current_url)
    answers = text_of(browser, "#answers")
    assert "住房受损程度" in answers and "受损房屋间数 rooms_damaged 2" in answers  # the correction
    assert "请补拍房屋照片" in text_of(browser, "#comments")
    shot(browser, "submission")

    # English is one click away
    browser.find_element(By.ID, "lang-en").click()
    wait(browser, lambda d: "Review queue" in d.page_source)
    assert "Comments" in browser.page_source

    browser.find_element(By.ID, "logout").click()
    wait(browser, lambda d: "/clerk/login" in d.current_url)
    shot(browser, "login")
