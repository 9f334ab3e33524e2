"""Review at speed, counted (issue 19): a township clerk reviews 50 new surveys and returns 5 with a
comment in real headless Chromium at 1366×768, from the queue's first row to the end, the way the
page invites — the queue's facts and preview beside the list, then the submission page's keys
(a: approve and open the next; r: comment, Enter returns and opens the next). Every click and key
press is counted and written to ``artifacts/review-speed.json``; the test asserts what was decided.

Before (the queue and submission pages of commit 147d70d, walked the same way): each survey took
opening it from the queue, pressing approve, and going back to the queue — 3 clicks, 150 for 50,
plus for each return a click into the comment box and its typing; the count is in the README.
"""

from __future__ import annotations

import json
import uuid
from urllib.parse import urlsplit

import pytest
import records
from browser import SCREENSHOTS, shot, text_of, wait
from conftest import PASSWORD
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from test_household_worker import push, roster, run

from sync import names

pytestmark = [pytest.mark.slow, pytest.mark.browser]
COMMENT = "请补拍房屋照片"


class Counted:
    """The clerk's hands: every click and key press goes through here and is counted."""

    def __init__(self, browser) -> None:
        self.browser, self.clicks, self.keys = browser, 0, 0

    def click(self, css: str) -> None:
        self.browser.find_element(By.CSS_SELECTOR, css).click()
        self.clicks += 1

    def press(self, text: str) -> None:
        ActionChains(self.browser).send_keys(text).perform()
        self.keys += len(text)


def test_fifty_surveys_reviewed_five_returned_counted(chromium, conn, township, web):
    browser = chromium
    a = township.a
    roster(conn, a, 50)
    for n in range(1, 51):
        doc = records.submission("household_survey", uuid.uuid4().hex, village_code=a, household_id=f"{a}-{n:04d}")
        doc.pop("_rev")
        doc["completed_at"] = f"2026-11-20T{8 + n // 10:02d}:{n % 60:02d}:00+08:00"
        push(conn, a, doc)
    run(conn)
    browser.set_window_size(1366, 768)
    browser.delete_all_cookies()
    browser.get(web.url + "/clerk/login")
    browser.find_element(By.ID, "name").send_keys("clerk")
    browser.find_element(By.ID, "password").send_keys(PASSWORD)
    browser.find_element(By.ID, "login-submit").click()
    wait(browser, lambda d: "/clerk/login" not in d.current_url)

    hands = Counted(browser)
    hands.click("#nav-queue")
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#queue tbody tr"))
    first = browser.find_element(By.CSS_SELECTOR, "#queue tbody tr")
    assert "石坪村" in first.text and "人均" in text_of(browser, "#queue tbody tr td.summary")  # the facts, in the row
    hands.press("j")  # the preview beside the list
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#preview #answers"))
    shot(browser, "queue-preview")
    hands.click("#queue tbody tr a.open")
    returns = {7, 19, 23, 38, 44}
    decided: list[str] = []
    for n in range(50):
        wait(browser, lambda d: d.find_elements(By.ID, "decide") and d.current_url.split("?")[0] not in decided)
        # the page's keys work once its script ran (deferred): a key pressed before is lost, as in any browser
        wait(browser, lambda d: d.execute_script("return document.readyState") == "complete")
        here = browser.current_url.split("?")[0]
        if n == 0:
            shot(browser, "submission-keys")
        decided.append(here)
        if n in returns:
            hands.press("r")  # into the comment box
            hands.press(COMMENT + "\ue007")  # the comment, then Enter: return and open the next
        else:
            hands.press("a")
        if n < 49:
            wait(browser, lambda d, here=here: d.current_url.split("?")[0] != here)
    wait(browser, lambda d: urlsplit(d.current_url).path == "/clerk/queue")  # the last one leads back to the queue
    states = {}
    for r in conn.admin.iter_prefix(names.village_db(a), "review:"):
        states[r["state"]] = states.get(r["state"], 0) + 1
    assert states == {"approved": 45, "returned": 5}
    returned = [r for r in conn.admin.iter_prefix(names.village_db(a), "review:") if r["state"] == "returned"]
    assert all(r["comments"][-1]["text"] == COMMENT for r in returned)
    result = {"surveys": 50, "returned": 5, "clicks": hands.clicks, "keys": hands.keys,
              "comment_keys": 5 * len(COMMENT), "before_clicks": 150}  # fmt: skip
    (SCREENSHOTS.parent / "review-speed.json").write_text(json.dumps(result, ensure_ascii=False, indent=1))
    print("review speed:", result)
    assert hands.clicks == 2  # the queue, then its first row: every other decision is a key
