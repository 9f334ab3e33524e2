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
    assert book.sheetnames == ["household_survey", "household_survey.members"]
    main = table(book["household_survey"])
    assert len(main) == 3 and {r["村代码"] for r in main} == {township.a}
    assert "户主姓名 head_name" in main[0] and "人均" not in "".join(main[0])  # form fields, not derived ones
    head = next(r for r in main if r["户编号"] == f"{township.a}-0001")
    assert head["户主身份证号 head_id_number"] == "110105********002X" and head["联系电话 phone"] == "138****8000"
    members = table(book["household_survey.members"])
    assert len(members) == 9 and {m["序号 position"] for m in members} == {1, 2, 3}
    assert all("*" in m[next(k for k in m if k.endswith("members/id_number"))] for m in members)
    whole = table(workbook(client.get("/clerk/export/submissions.xlsx?state=all&numbers=whole"))["household_survey"])
    assert records.HEAD_ID in {r["户主身份证号 head_id_number"] for r in whole}
    entries = [e for e in audit.entries_for(conn.admin, "export:submissions")]
    assert sorted(e["after"]["whole_numbers"] for e in entries) == [False, True]
    assert {e["actor"] for e in entries} == {"clerk"}


def test_households_csv_follows_the_filters_and_never_writes_a_formula(client, conn, township):
    a = township.a
    surveyed(conn, a, 3)
    push(conn, a, survey(a, f"{a}-0003", head_name='=HYPERLINK("http://x")', seq=9, base=1))
    run(conn)
    sign_in(client)
    resp = client.get("/clerk/export/households.csv")
    assert resp.status_code == 200 and resp.mimetype == "text/csv"
    raw = resp.get_data()
    assert raw.startswith("\ufeff".encode())
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert [r["户编号 household_id"] for r in rows] == [f"{a}-0001", f"{a}-0002", f"{a}-0003"]
    assert rows[0]["phone"] == "138****8000" and rows[2]["head_name"] == '\'=HYPERLINK("http://x")'
    members = list(csv.reader(io.StringIO(client.get("/clerk/export/households.csv?sheet=members")
                                          .get_data().decode("utf-8-sig"))))  # fmt: skip
    assert (
        members[0][:3] == ["户编号 household_id", "序号 position", "name"] and len(members) == 1 + 9
    )  # three households of three
    assert client.get("/clerk/export/households.csv?tier=high").get_data().decode("utf-8-sig").count("\n") == 1
    one = client.get(f"/clerk/export/households.csv?q={a}-0002").get_data().decode("utf-8-sig")
    assert one.count("\n") == 2 and f"{a}-0002" in one  # the list's search narrows the export too
    assert client.get("/clerk/export/households.csv?sheet=nope").status_code == 400


def test_another_townships_clerk_exports_none_of_these_rows(client, conn, township):
    surveyed(conn, township.a, 2)
    sign_in(client, "clerk_other")
    sub = table(workbook(client.get("/clerk/export/submissions.xlsx?state=all"))["household_survey"])
    hh = table(workbook(client.get("/clerk/export/households.xlsx"))["households"])
    assert sub == [] and hh == []
    client.delete_cookie("fangpin_session")
    assert client.get("/clerk/export/households.xlsx").status_code == 302  # signed out: to the login page
