"""Exports (real CouchDB, Flask test client; the XLSX is opened with openpyxl): one column per form
field, repeats as their own sheet, the page's filters, masked numbers unless asked (and audited),
no formulas from data, and another township's rows never included."""

from __future__ import annotations

import csv
import io

import records
from openpyxl import load_workbook
from test_clerk_app import sign_in, surveyed
from test_household_worker import push, run, survey

from sync import audit


def workbook(resp):
    assert resp.status_code == 200, resp.get_data(as_text=True)[:500]
    return load_workbook(io.BytesIO(resp.get_data()), read_only=True)


def table(ws) -> list[dict]:
    rows = list(ws.iter_rows(values_only=True))
    return [dict(zip(rows[0], r, strict=True)) for r in rows[1:]]


def test_submissions_xlsx_has_a_column_per_field_and_a_sheet_per_repeat_masked_by_default(client, conn, township):
    surveyed(conn, township.a, 3)
    sign_in(client)
    book = workbook(client.get("/clerk/export/submissions.xlsx?state=all&form=household_survey"))
    assert book.sheetnames == ["家庭情况排查", "家庭情况排查·家庭成员"]
    main = table(book["家庭情况排查"])
    assert len(main) == 3 and {r["村代码"] for r in main} == {township.a} and {r["村"] for r in main} == {"石坪村"}
    assert "户主姓名" in main[0] and "人均" not in "".join(main[0])  # form fields, not derived ones
    head = next(r for r in main if r["户编号"] == f"{township.a}-0001")
    assert head["户主身份证号"] == "110105********002X" and head["联系电话"] == "138****8000"
    # in Chinese: labels for codes, Beijing time, the device, the state's name
    assert head["户类型"] == "脱贫户" and head["表单"] == "家庭情况排查" and head["状态"] == "待审核"
    assert head["完成时间"] == "2026-11-20 09:20" and head["设备"] == "tab-1"
    assert not any(isinstance(k, str) and "_" in k for k in main[0])  # no data path as a header
    members = table(book["家庭情况排查·家庭成员"])
    assert len(members) == 9 and {m["序号"] for m in members} == {1, 2, 3}
    assert all("*" in m["身份证号"] for m in members) and {m["性别"] for m in members} <= {"男", "女"}
    whole = workbook(client.get("/clerk/export/submissions.xlsx?state=all&numbers=whole"))
    assert whole.sheetnames[0] == "全部提交" and len(table(whole["全部提交"])) == 3
    assert records.HEAD_ID in {r["户主身份证号"] for r in table(whole["家庭情况排查"])}
    entries = [e for e in audit.entries_for(conn.admin, "export:submissions")]
    assert sorted(e["after"]["whole_numbers"] for e in entries) == [False, True]
    assert {e["actor"] for e in entries} == {"clerk"}
    every = client.get("/clerk/export/submissions.csv?state=all").get_data().decode("utf-8-sig")  # no form: all
    assert every.splitlines()[0].startswith("提交编号,村,村代码,户编号,表单") and every.count("\n") == 4


def test_households_csv_follows_the_filters_and_never_writes_a_formula(client, conn, township):
    a = township.a
    surveyed(conn, a, 3)
    push(conn, a, survey(a, f"{a}-0003", head_name='=HYPERLINK("http://x")', seq=9, base=1))
    run(conn)
    sign_in(client)
    resp = client.get("/clerk/export/households.csv")
    assert resp.status_code == 200 and resp.headers["Content-Type"] == "text/csv; charset=utf-8"
    disposition = resp.headers["Content-Disposition"]  # a header is Latin-1 (gunicorn refused the Chinese name)
    assert disposition.encode("latin-1") and "filename*=UTF-8''" in disposition and "%E5%86%9C%E6%88%B7" in disposition
    raw = resp.get_data()
    assert raw.startswith("\ufeff".encode())
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert [r["户编号"] for r in rows] == [f"{a}-0001", f"{a}-0002", f"{a}-0003"]
    assert rows[0]["联系电话"] == "138****8000" and rows[2]["户主姓名"] == '\'=HYPERLINK("http://x")'
    assert rows[0]["村"] == "石坪村" and rows[0]["风险等级"] == "未定级" and rows[0]["户类型"] == "脱贫户"
    members = list(csv.reader(io.StringIO(client.get("/clerk/export/households.csv?sheet=家庭成员")
                                          .get_data().decode("utf-8-sig"))))  # fmt: skip
    assert members[0][:3] == ["户编号", "序号", "姓名"] and len(members) == 1 + 9  # three households of three
    assert client.get("/clerk/export/households.csv?tier=high").get_data().decode("utf-8-sig").count("\n") == 1
    one = client.get(f"/clerk/export/households.csv?q={a}-0002").get_data().decode("utf-8-sig")
    assert one.count("\n") == 2 and f"{a}-0002" in one  # the list's search narrows the export too
    assert client.get("/clerk/export/households.csv?sheet=nope").status_code == 400


def test_the_export_page_carries_the_lists_filters_and_exports_what_they_select(client, conn, township):
    import lxml.html

    a = township.a
    surveyed(conn, a, 3)
    push(conn, township.b, survey(township.b, f"{township.b}-0001", user="gw_b"))
    run(conn)
    sign_in(client)
    queue = client.get(f"/clerk/queue?village={a}&state=all&surveyor=gw_a").get_data(as_text=True)
    link = lxml.html.fromstring(queue).get_element_by_id("export-options").get("href")
    page = lxml.html.fromstring(client.get(link).get_data(as_text=True))
    form = page.get_element_by_id("export-submissions")
    chosen = {s.get("name"): s.value for s in form.xpath(".//select")}
    assert chosen == {"village": a, "form": "", "state": "all", "surveyor": "gw_a"}
    assert [o.text for o in form.xpath(".//select[@name='village']/option")] == ["全部", "石坪村", "龙井村"]
    # the form as the browser sends it exports the rows its filters select
    fields = {
        **chosen,
        **{i.get("name"): i.get("value") or "" for i in form.xpath(".//input[@type='date' or not(@type)]")},
    }
    rows = table(workbook(client.get(form.get("action"), query_string=fields))["全部提交"])
    assert len(rows) == 3 and {r["村"] for r in rows} == {"石坪村"}
    # opened from the menu: every state of every village
    bare = lxml.html.fromstring(client.get("/clerk/export").get_data(as_text=True))
    assert bare.get_element_by_id("s-state").value == "all" and bare.get_element_by_id("s-village").value == ""
    households = lxml.html.fromstring(client.get(f"/clerk/households?tier=none&village={a}").get_data(as_text=True))
    hh = lxml.html.fromstring(
        client.get(households.get_element_by_id("export-options").get("href")).get_data(as_text=True)
    )
    assert hh.get_element_by_id("h-tier").value == "none" and hh.get_element_by_id("h-village").value == a


def test_another_townships_clerk_exports_none_of_these_rows(client, conn, township):
    surveyed(conn, township.a, 2)
    sign_in(client, "clerk_other")
    sub = table(workbook(client.get("/clerk/export/submissions.xlsx?state=all"))["家庭情况排查"])
    hh = table(workbook(client.get("/clerk/export/households.xlsx"))["农户"])
    assert sub == [] and hh == []
    client.delete_cookie("fangpin_session")
    assert client.get("/clerk/export/households.xlsx").status_code == 302  # signed out: to the login page
