"""The casework screens in real headless Chromium, with gunicorn and the worker. Identification by
role:
the township verifies, the village committee reviews and posts the notice, the county includes at
once (green channel), checks the departments' data and approves, the village announces, the
township enters the household into monitoring and records a measure. A clerk's tier override. A
disaster event opened, its roll-up and unvisited households. Screenshots land in
``artifacts/screenshots`` (identification-*.png, tier-override.png, events*.png)."""

from __future__ import annotations

import datetime as dt

import pytest
import records
from browser import in_view, shot, text_of, wait
from conftest import PASSWORD
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select
from test_clerk_households import medium_household
from test_household_worker import push, record, roster, run
from test_roles import flagged_household

from server.casework import lists
from server.validation.submission import local_today

pytestmark = [pytest.mark.slow, pytest.mark.browser]


def as_user(browser, url: str, name: str) -> None:
    browser.delete_all_cookies()
    browser.get(url + "/clerk/login")
    browser.find_element(By.ID, "name").send_keys(name)
    browser.find_element(By.ID, "password").send_keys(PASSWORD)
    browser.find_element(By.ID, "login-submit").click()
    wait(browser, lambda d: "/clerk/login" not in d.current_url)


def record_step(browser, expect: str, **fields: str) -> None:
    """Fill the next step's form (inputs by id) and wait for the step it records."""
    for element_id, value in fields.items():
        element = browser.find_element(By.ID, element_id)
        if element.tag_name == "select":
            Select(element).select_by_value(value)
        elif element.get_attribute("type") == "checkbox":
            element.click()
        elif element.get_attribute("type") == "date":  # a date widget: set as the page's own script would
            browser.execute_script("arguments[0].value = arguments[1]", element, value)
        else:
            element.send_keys(value)
    browser.find_element(By.ID, "advance-submit").click()
    wait(browser, lambda d: text_of(d, "#ident-step") == expect)


def test_each_role_records_its_steps_on_its_own_screens(chromium, conn, township, web):
    browser = chromium
    hid = flagged_household(conn, township.a)
    case = f"{web.url}/clerk/identification/{hid}"
    today = local_today()

    as_user(browser, web.url, "clerk")
    browser.get(case)
    assert text_of(browser, "#ident-step") == "风险预警" and "H1" in text_of(browser, "#rules")
    # consent not ticked: the refusal is on screen beside the form, not above the visible area
    browser.find_element(By.ID, "advance-submit").click()
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#result .flash.error"))
    assert "承诺授权书" in text_of(browser, "#result") and in_view(browser, "#result")
    assert text_of(browser, "#ident-step") == "风险预警"
    shot(browser, "identification-refused")
    record_step(browser, "入户核实", consent="1")
    assert in_view(browser, "#result") and "已保存" in text_of(browser, "#result")
    assert "下一步“民主评议、公示”由村两委记录" in text_of(browser, "#waiting")
    shot(browser, "identification-township")

    as_user(browser, web.url, "village_a")  # the committee lands on its own list
    assert browser.current_url.endswith("/clerk/identification") and not browser.find_elements(By.ID, "nav-queue")
    browser.find_element(By.ID, "mine").click()
    browser.find_element(By.CSS_SELECTOR, "form.filters button[type=submit]").click()
    wait(browser, lambda d: hid in text_of(d, "#identification-list"))
    shot(browser, "identification-village-list")
    browser.get(case)
    record_step(browser, "民主评议、公示", **{"publicity-start": (today - dt.timedelta(days=5)).isoformat()})
    shot(browser, "identification-village")

    as_user(browser, web.url, "clerk")
    browser.get(case)
    record_step(browser, "乡镇审核")

    as_user(browser, web.url, "county")
    browser.get(case)
    Select(browser.find_element(By.ID, "include-category")).select_by_value("sudden_hardship")
    browser.find_element(By.ID, "include-submit").click()
    wait(browser, lambda d: d.find_elements(By.ID, "provisional"))
    assert "部门比对" in text_of(browser, "#owed") and "县级审定" in text_of(browser, "#owed")
    record_step(browser, "部门比对", **{"findings-input": "民政、人社、医保数据与申报一致"})
    shot(browser, "identification-county")
    record_step(browser, "县级审定")
    browser.get(web.url + "/clerk/results")  # the result notice the village will post
    wait(browser, lambda d: hid in text_of(d, "#list-table"))
    assert "突发严重困难户" in text_of(browser, "#list-table")
    shot(browser, "list-results")

    as_user(browser, web.url, "village_a")
    browser.get(case)
    record_step(browser, "公告", **{"announced-on": today.isoformat()})

    as_user(browser, web.url, "clerk")
    browser.get(case)
    record_step(browser, "纳入监测")  # the category came with the county's inclusion
    Select(browser.find_element(By.ID, "measure-type")).select_by_value("public_welfare_jobs")
    browser.find_element(By.ID, "measure-unit").send_keys("县人社局")
    browser.find_element(By.ID, "measure-official").send_keys("张干部")
    browser.find_element(By.ID, "measure-amount").send_keys("800")
    browser.find_element(By.ID, "measure-submit").click()
    wait(browser, lambda d: d.find_elements(By.ID, "applied-measures"))
    assert "公益性岗位" in text_of(browser, "#applied-measures") and "县人社局" in text_of(browser, "#applied-measures")
    unmet = [li.get_attribute("data-condition") for li in browser.find_elements(By.CSS_SELECTOR, "#checklist li.alert")]
    assert "months" in unmet and "notice" in unmet and "measure" not in unmet  # monitored today, no notice yet
    shot(browser, "identification-monitored")
    browser.find_element(By.ID, "nav-measures").click()  # the township's register of measures
    wait(browser, lambda d: d.find_elements(By.ID, "measures-table"))
    assert "公益性岗位" in text_of(browser, "#measures-table") and "张干部" in text_of(browser, "#measures-table")
    shot(browser, "measures")
    browser.find_element(By.ID, "nav-lists").click()  # the lists the township reports
    browser.find_element(By.ID, "to-warnings").click()
    wait(browser, lambda d: d.find_elements(By.ID, "list-title"))
    flagged_on = record(conn, hid)["identification"]["flagged_on"]
    Select(browser.find_element(By.ID, "period")).select_by_value(lists.half_month(dt.date.fromisoformat(flagged_on)))
    browser.find_element(By.CSS_SELECTOR, "#list-filters button[type=submit]").click()
    wait(browser, lambda d: d.find_elements(By.ID, "list-table") and hid in text_of(d, "#list-table"))
    shot(browser, "list-warnings")
    browser.get(web.url + "/clerk/register")
    wait(browser, lambda d: hid in text_of(d, "#list-table"))
    assert "公益性岗位" in text_of(browser, "#list-table") and "纳入监测" in text_of(browser, "#list-table")
    shot(browser, "list-register")

    ident = record(conn, hid)["identification"]
    assert [(h["step"], h["by"]) for h in ident["history"]] == [
        ("verified", "clerk"), ("village_reviewed", "village_a"), ("township_reviewed", "clerk"),
        ("provisional", "county"), ("dept_checked", "county"), ("county_approved", "county"),
        ("announced", "village_a"), ("monitored", "clerk"),
    ]  # fmt: skip
    assert ident["category"] == "sudden_hardship" and ident["measures"][0]["amount"] == 800

    browser.get(web.url + "/clerk/notice")  # nobody under notice now; the page still prints its heading
    wait(browser, lambda d: d.find_elements(By.ID, "notice-identification"))


def test_a_clerk_overrides_a_tier_in_the_browser(chromium, conn, township, web):
    browser = chromium
    hid = medium_household(conn, township.a)
    as_user(browser, web.url, "clerk")
    browser.get(f"{web.url}/clerk/households/{hid}")
    Select(browser.find_element(By.ID, "override-tier")).select_by_value("high")
    browser.find_element(By.ID, "override-reason").send_keys("户主突发重病，家中无人照料")
    browser.find_element(By.ID, "override-submit").click()
    wait(browser, lambda d: d.find_elements(By.ID, "override-shown"))
    assert text_of(browser, "#tier") == "高风险" and "计算结果为中风险" in text_of(browser, "#override-shown")
    shot(browser, "tier-override")
    assert record(conn, hid)["tier"]["computed_tier"] == "medium"


def test_a_clerk_opens_an_event_and_sees_who_is_not_surveyed_yet(chromium, conn, township, web):
    browser = chromium
    roster(conn, township.a, 3)
    as_user(browser, web.url, "clerk")
    browser.find_element(By.ID, "nav-events").click()
    wait(browser, lambda d: d.find_elements(By.ID, "open-event"))
    Select(browser.find_element(By.ID, "event-type")).select_by_value("flood")
    browser.find_element(By.CSS_SELECTOR, f'#event-villages input[value="{township.a}"]').click()
    browser.find_element(By.ID, "event-name").send_keys("11月强降雨")
    browser.find_element(By.ID, "event-submit").click()
    wait(browser, lambda d: d.find_elements(By.ID, "rollup"))
    event_id = browser.current_url.rsplit("/", 1)[1]
    push(conn, township.a, _damage(township.a, f"{township.a}-0001", event_id))
    run(conn)
    browser.refresh()
    wait(browser, lambda d: "已摸排 1 户，名单共 3 户" in d.page_source)
    assert f"{township.a}-0002" in text_of(browser, "#not-yet") and f"{township.a}-0001" not in text_of(
        browser, "#not-yet"
    )
    shot(browser, "event")
    browser.find_element(By.ID, "nav-events").click()
    wait(browser, lambda d: event_id in text_of(d, "#events"))
    shot(browser, "events")


def _damage(village: str, household: str, event_id: str) -> dict:
    doc = records.submission("damage_survey", f"d-{household}", village_code=village, household_id=household)
    doc.pop("_rev")
    doc["data"]["event_id"] = event_id
    return doc
