"""Roster import: the national system's export (Chinese headers, one row per person) checked with
the survey's rules, a row-level error report, nothing half-imported, re-import updates (real CouchDB
for the store and the `fangpin roster import` command)."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from conftest import fangpin
from openpyxl import Workbook, load_workbook
from records import make_id

from server.casework.roster import RosterError, parse, read_table
from server.households import model as households
from server.pipeline import household_store
from sync import names

TODAY = dt.date(2026, 11, 22)
V = "500112104201"
HEADER = ["户编号", "户主姓名", "姓名", "证件号码", "与户主关系", "性别", "健康状况", "劳动技能", "联系电话", "户类型",
          "监测对象类别"]  # fmt: skip


def person(hid: str, head: str, name: str, number: str, relation: str, sex: str, **extra: str) -> list[str]:
    row = dict.fromkeys(HEADER, "")
    row.update({"户编号": hid, "户主姓名": head, "姓名": name, "证件号码": number, "与户主关系": relation, "性别": sex,
                "健康状况": "健康", "劳动技能": "普通劳动力"}, **extra)  # fmt: skip
    return [row[h] for h in HEADER]


def family(n: int, village: str = V) -> list[list[str]]:
    """Household n: a man (head) and his wife, with valid, distinct ID numbers."""
    hid = f"{village}-{n:04d}"
    born = (dt.date(1950, 1, 1) + dt.timedelta(days=n)).strftime("%Y%m%d")  # distinct numbers for every n
    return [
        person(hid, f"户主{n}", f"户主{n}", make_id(born, 11), "户主", "男", 联系电话=f"138{n:08d}", 户类型="脱贫户"),
        person(hid, f"户主{n}", f"配偶{n}", make_id(born, 22, area="110106"), "配偶", "女"),
    ]


def test_rows_become_households_with_the_surveys_codes():
    table = [["某某乡防返贫监测对象信息表"], HEADER, *family(1), *family(2)]
    table[3][HEADER.index("健康状况")] = "长期慢性病"
    roster = parse(table, None, TODAY)
    assert roster.errors == 0 and sorted(roster.households) == [f"{V}-0001", f"{V}-0002"]
    one = roster.households[f"{V}-0001"]
    assert one["head_name"] == "户主1" and one["phone"] == "13800000001" and one["category"] == "lifted"
    assert one["head_id_number"] == make_id("19500102", 11)
    head, wife = one["members"]
    assert head == {"name": "户主1", "sex": "male", "relation": "head", "health": "healthy", "labour": "normal",
                    "id_number": make_id("19500102", 11), "birth_date": "1950-01-02"}  # fmt: skip
    assert wife["relation"] == "spouse" and wife["health"] == "chronic" and wife["birth_date"] == "1950-01-02"
    assert roster.rows[0].number == 3  # as Excel numbers it, under the title row and the header


def test_the_national_systems_columns_map_to_release_2026120105s_items():
    """与户主关系 as the national list, several health states at once, 残疾类别, the household's
    assistance from a list column or from one 是/否 column per kind, 易地扶贫搬迁, 监测对象类别."""
    header = [*HEADER, "残疾类别", "享受政策", "是否特困供养", "是否易地扶贫搬迁"]
    hid = f"{V}-0003"

    def row(name: str, number: str, relation: str, sex: str, **extra: str) -> list[str]:
        cells = dict(zip(HEADER, person(hid, "户主3", name, number, relation, sex), strict=True))
        return [{**cells, **extra}.get(h, "") for h in header]

    table = [header,
             row("户主3", make_id("19500104", 11), "户主", "男", 户类型="监测户", 监测对象类别="边缘易致贫户",
                 享受政策="低保、残疾人两项补贴", 是否易地扶贫搬迁="是"),
             row("儿媳", make_id("19800101", 22), "之儿媳", "女", 健康状况="长期慢性病、残疾", 残疾类别="肢体残疾",
                 是否特困供养="是"),
             row("孙子", make_id("20150301", 11), "之孙子", "男", 劳动技能="无劳动力"),
             row("外孙女", make_id("20160301", 22), "之外孙女", "女", 健康状况="失能失智", 劳动技能="无劳动力"),
             row("侄子", make_id("20000101", 31), "之侄子", "男")]  # fmt: skip
    roster = parse(table, None, TODAY)
    assert roster.errors == 0, [m for r in roster.rows for m in r.messages]
    props = roster.households[hid]
    assert (props["category"], props["monitoring_category"]) == ("monitored", "marginal")
    assert props["welfare"] == "dibao disability_allowance tekun" and props["relocated_household"] == "yes"
    relations = [m["relation"] for m in props["members"]]
    assert relations == ["head", "daughter_in_law", "grandson", "granddaughter_maternal", "other"]
    daughter_in_law = props["members"][1]
    assert (daughter_in_law["health"], daughter_in_law["disability_type"]) == ("chronic disabled", "physical")
    assert props["members"][3]["health"] == "incapacitated"
    # a word the survey does not know is named, not guessed
    table[2][header.index("健康状况")] = "长期慢性病、偶尔头疼"
    bad = parse(table, None, TODAY)
    assert [m["code"] for m in bad.rows[1].messages] == ["roster.unknown_value"] and bad.households == {}
    # said with the column as the file names it and what it accepts, one word per meaning
    assert bad.rows[1].messages[0]["message"]["zh"] == (
        "健康状况的值“长期慢性病、偶尔头疼”无法识别，可填：健康、长期慢性病、患有大病、残疾、失能失智"
    )
    assert "accepted: 健康、长期慢性病" in bad.rows[1].messages[0]["message"]["en"]


def test_short_household_numbers_need_the_village():
    table = [HEADER, *[[("0007" if i == 0 else c) for i, c in enumerate(r)] for r in family(7)]]
    assert parse(table, V, TODAY).households.keys() == {f"{V}-0007"}
    unplaced = parse(table, None, TODAY)
    assert unplaced.households == {} and unplaced.rows[0].errors[0]["code"] == "roster.household_id"
    other = parse([HEADER, *family(1, "500112104202")], V, TODAY)
    assert other.rows[0].errors[0]["code"] == "roster.other_village"


@pytest.mark.parametrize(
    ("change", "row", "code"),
    [
        (lambda t: t[1].__setitem__(3, t[1][3][:-1] + ("0" if t[1][3][-1] != "0" else "1")), 0, "id.check_digit"),
        (lambda t: t[1].__setitem__(3, "12345"), 0, "roster.id_format"),
        (lambda t: t[2].__setitem__(3, t[1][3]), 1, "id.duplicate_in_household"),
        (lambda t: t[3].__setitem__(3, t[1][3]), 2, "roster.duplicate_id"),  # the same ID in household 2
        (lambda t: t[1].__setitem__(4, "配偶"), 0, "household.no_head"),
        (lambda t: t[2].__setitem__(4, "户主"), 1, "household.several_heads"),
        (lambda t: t[1].__setitem__(5, "女"), 0, "id.sex_mismatch"),
        (lambda t: t[1].__setitem__(6, "很好"), 0, "roster.unknown_value"),
    ],
)
def test_each_bad_row_is_named_with_its_code(change, row, code):
    table = [HEADER, *family(1), *family(2)]
    change(table)
    roster = parse(table, None, TODAY)
    assert code in {m["code"] for m in roster.rows[row].errors}
    assert roster.households == {} and roster.errors >= 1
    assert all(m["message"]["zh"] and m["message"]["en"] for r in roster.rows for m in r.messages)
    # in the file's words: its columns, never the record's paths or keys (members[2]/id_number, school)
    for m in (m for r in roster.rows for m in r.messages):
        assert not re.search(r"[a-z]+_[a-z]+|members\[|\b(sex|relation|health|labour|school)\b", m["message"]["zh"]), m


def test_placeholder_id_numbers_are_accepted_and_flagged_and_bad_files_are_refused():
    table = [HEADER, *family(1)]
    table[2][3] = "999999196202020000"
    roster = parse(table, None, TODAY)
    assert roster.errors == 0 and roster.warnings == 1 and roster.households
    with pytest.raises(RosterError, match="缺少必需的列"):
        parse([["户编号", "证件号码", "性别"], ["x", "y", "z"]], None, TODAY)
    with pytest.raises(RosterError, match="表头"):
        parse([["a", "b"], ["c", "d"]], None, TODAY)
    with pytest.raises(RosterError, match=r"\.xlsx"):
        read_table("roster.doc", b"")
    gbk = ",".join(HEADER).encode("gb18030") + b"\n" + ",".join(family(1)[0]).encode("gb18030")
    assert parse(read_table("r.csv", gbk), None, TODAY).households  # Excel's Chinese CSV is GBK


def write_xlsx(path, rows: list[list[str]]) -> None:
    book = Workbook()
    book.active.append(["石坪村农户花名册（全国防返贫监测信息系统导出）"])
    book.active.append(HEADER)
    for row in rows:
        book.active.append(row)
    book.save(path)


def household_docs(conn) -> list[dict]:
    return list(conn.admin.iter_prefix(names.CASES, "household:"))


def test_a_2000_household_roster_with_bad_rows_writes_nothing_then_imports_and_reimports(
    conn, township, settings, tmp_path
):
    rows = [r for n in range(1, 2001) for r in family(n)]
    good = [list(r) for r in rows]
    rows[10][3] = rows[10][3][:-1] + ("1" if rows[10][3][-1] != "1" else "2")  # bad check digit (household 6)
    rows[501][3] = rows[40][3]  # household 251's wife holds household 21's head's ID
    rows[3000][4] = "之子"  # household 1501 loses its head
    path = tmp_path / "roster.xlsx"
    write_xlsx(path, rows)
    failed = fangpin(settings, "roster", "import", str(path), check=False)
    assert failed.returncode == 1 and "nothing was imported" in failed.stderr
    assert household_docs(conn) == []  # nothing partial
    report = list(load_workbook(tmp_path / "roster.errors.xlsx").active.iter_rows(values_only=True))
    assert report[0][-1] == "错误 / errors" and len(report) == 1 + 4000
    flagged = {n for n, r in enumerate(report[1:]) if r[-1]}
    assert flagged == {10, 501, 40, 3000, 3001}  # the two holders of one ID; both rows of the headless household
    assert "校验位" in report[11][-1] and "check digit" in report[11][-1]
    assert f"{V}-0021" in report[502][-1] and "户主" in report[3001][-1]

    write_xlsx(path, good)
    dry = fangpin(settings, "roster", "import", str(path), "--dry-run")
    assert "dry run" in dry.stdout and household_docs(conn) == []
    done = fangpin(settings, "roster", "import", str(path))
    assert "created: 2000" in done.stdout
    assert len(household_docs(conn)) == 2000
    tablet_doc = conn.admin.get(names.village_db(V), f"household:{V}-0042")
    assert tablet_doc["properties"]["head_name"] == "户主42" and tablet_doc["version"] == 0
    again = fangpin(settings, "roster", "import", str(path))
    assert "unchanged: 2000" in again.stdout  # the same file: nothing new

    good[84][HEADER.index("联系电话")] = "13999999999"  # household 43's new phone
    good.append(person(f"{V}-0043", "户主43", "孙子43", make_id("20150303", 11, area="110107"), "孙子", "男",
                       劳动技能="无劳动力"))  # fmt: skip
    write_xlsx(path, good)
    updated = fangpin(settings, "roster", "import", str(path))
    assert "updated: 1" in updated.stdout and "unchanged: 1999" in updated.stdout
    record = conn.admin.get(names.CASES, f"household:{V}-0043")
    assert record["version"] == 1 and record["events"][0]["kind"] == "roster"
    assert record["properties"]["phone"] == "13999999999" and len(record["properties"]["members"]) == 3


def test_a_write_that_fails_midway_is_undone(conn, township):
    roster = {f"{V}-{n:04d}": {"head_name": f"户主{n}"} for n in range(1, 701)}
    household_store.import_roster(conn.admin, {f"{V}-0650": {"head_name": "旧名"}}, "t", "2026-11-01", "first")
    before = conn.admin.get(names.CASES, f"household:{V}-0650")

    def concurrent_write(done: int, total: int) -> None:  # someone edits household 650 while batch 1 is written
        doc = conn.admin.get(names.CASES, f"household:{V}-0650")
        households.resolve(doc, {"phone": "13700000000"}, "clerk", "2026-11-22T00:00:00Z", "resolution:x")
        conn.admin.put(names.CASES, doc)

    with pytest.raises(Exception, match="household writes failed"):
        household_store.import_roster(conn.admin, roster, "t", "2026-11-22", "second", concurrent_write)
    left = household_docs(conn)
    assert [d["household_id"] for d in left] == [f"{V}-0650"]  # the 499 created in batch 1 are gone
    assert left[0]["properties"]["phone"] == "13700000000" and left[0]["_rev"] != before["_rev"]


def test_clerks_upload_a_roster_into_their_own_township_only(client, conn, township, tmp_path):
    import io
    import re

    from test_clerk_app import TOKEN, sign_in

    rows = [*family(1), *family(2)]
    rows[1][3] = "12345"
    path = tmp_path / "r.xlsx"
    write_xlsx(path, rows)

    def upload(body: bytes, **form: str) -> str:
        token = TOKEN.search(client.get("/clerk/roster").get_data(as_text=True)).group(1)
        data = {"csrf_token": token, "file": (io.BytesIO(body), "r.xlsx"), **form}
        return client.post("/clerk/roster", data=data, content_type="multipart/form-data").get_data(as_text=True)

    sign_in(client)
    page = upload(path.read_bytes())
    assert 'id="roster-errors">1<' in page and "未导入任何数据" in page and household_docs(conn) == []
    assert f"行 {len(rows)} · 户数 2 ·" in " ".join(page.split())  # counted though nothing is written
    link = re.search(r'href="(/clerk/roster/report/\w+\.xlsx)"', page).group(1)
    report = load_workbook(io.BytesIO(client.get(link).data)).active
    assert "格式错误" in [r[-1] for r in report.iter_rows(values_only=True)][2]
    rows[1][3] = family(1)[1][3]
    write_xlsx(path, rows)
    assert "新建 2 户" in upload(path.read_bytes())
    assert len(household_docs(conn)) == 2
    client.delete_cookie("fangpin_session")
    sign_in(client, "clerk_other")
    assert "无权导入村 500112104201" in upload(path.read_bytes())
    assert client.get(link).status_code == 404  # another clerk's report
