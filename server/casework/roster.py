"""The household roster a township already has (exported from the national system as Excel or CSV,
one row per person) as household properties, checked with the same rules as a survey (pure).

Headers are the national system's Chinese ones (户编号, 户主姓名, 证件号码, 与户主关系, 性别, 健康状况,
劳动技能, 联系电话, 户类型, 监测对象类别, …) and may sit under a title row; values are the system's
words (男, 户主, 长期慢性病, 弱劳动力或半劳动力, 脱贫户, …), mapped to the survey's codes. Every row gets
its own messages, so the error report can be the file itself with one more column.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from openpyxl import load_workbook

from server.refusals import BilingualError
from server.validation import ERROR, WARNING, idcard, issue
from server.validation.rules import Context, check_head, check_id_numbers, check_members

# header (as printed by the national system, and common variants) -> field
HEADERS: dict[str, str] = {
    "户编号": "household", "户号": "household", "家庭编号": "household",
    "户主姓名": "head_name",
    "姓名": "name", "成员姓名": "name",
    "证件号码": "id_number", "身份证号码": "id_number", "身份证号": "id_number", "公民身份号码": "id_number",
    "与户主关系": "relation",
    "性别": "sex",
    "出生日期": "birth_date",
    "健康状况": "health",
    "残疾等级": "disability_grade",
    "劳动技能": "labour", "劳动能力": "labour",
    "在校生状况": "school", "文化程度": "school",
    "是否参加城乡居民基本医疗保险": "medical_insurance", "参加医疗保险": "medical_insurance",
    "联系电话": "phone", "电话": "phone",
    "户类型": "category",
    "监测对象类别": "monitoring_category",
    "残疾类别": "disability_type",
    "享受政策": "welfare", "社会保障": "welfare", "享受救助": "welfare",
    "是否享受低保": "welfare:dibao", "是否特困供养": "welfare:tekun", "是否低保边缘": "welfare:dibao_edge",
    "是否享受残疾人两项补贴": "welfare:disability_allowance", "是否领取养老金": "welfare:pension",
    "是否易地扶贫搬迁": "relocated_household", "易地扶贫搬迁户": "relocated_household",
}  # fmt: skip
REQUIRED = ("household", "name", "relation")
_FIRST = {"户编号", "姓名", "与户主关系"}  # how the required columns are named in the error message

VALUES: dict[str, dict[str, str]] = {
    "sex": {"男": "male", "女": "female"},
    # the national system's 与户主关系 list, as the survey codes it from release 2026120105
    "relation": {
        "户主": "head", "本人": "head", "配偶": "spouse", "妻": "spouse", "夫": "spouse",
        "之子": "son", "子": "son", "儿子": "son", "之女": "daughter", "女": "daughter", "女儿": "daughter",
        "之儿媳": "daughter_in_law", "儿媳": "daughter_in_law", "之女婿": "son_in_law", "女婿": "son_in_law",
        "之孙子": "grandson", "孙子": "grandson", "之孙女": "granddaughter", "孙女": "granddaughter",
        "之外孙子": "grandson_maternal", "外孙子": "grandson_maternal",
        "之外孙女": "granddaughter_maternal", "外孙女": "granddaughter_maternal",
        "之父": "father", "父亲": "father", "之母": "mother", "母亲": "mother",
        "之公公": "father_in_law", "之岳父": "father_in_law", "之婆婆": "mother_in_law", "之岳母": "mother_in_law",
        "之祖父": "grandfather", "祖父": "grandfather", "之祖母": "grandmother", "祖母": "grandmother",
        "之兄弟姐妹": "sibling", "兄弟姐妹": "sibling", "其他": "other",
    },
    # several answers at once from release 2026120105 ("长期慢性病、残疾")
    "health": {
        "健康": "healthy", "长期慢性病": "chronic", "慢性病": "chronic", "患有大病": "serious", "大病": "serious",
        "残疾": "disabled", "失能失智": "incapacitated", "失能": "incapacitated", "失智": "incapacitated",
    },
    "disability_type": {
        "视力": "visual", "视力残疾": "visual", "听力": "hearing", "听力残疾": "hearing", "言语": "speech",
        "言语残疾": "speech", "肢体": "physical", "肢体残疾": "physical", "智力": "intellectual",
        "智力残疾": "intellectual", "精神": "mental", "精神残疾": "mental", "多重": "multiple", "多重残疾": "multiple",
    },
    "welfare": {
        "低保": "dibao", "农村低保": "dibao", "特困": "tekun", "特困供养": "tekun", "低保边缘": "dibao_edge",
        "临时救助": "temporary_relief", "残疾人两项补贴": "disability_allowance", "两项补贴": "disability_allowance",
        "养老金": "pension", "养老保险": "pension", "无": "none",
    },
    "relocated_household": {"是": "yes", "否": "no"},
    "labour": {
        "普通劳动力": "normal", "技能劳动力": "skilled", "弱劳动力或半劳动力": "weak", "弱劳动力": "weak",
        "半劳动力": "weak", "丧失劳动力": "lost", "无劳动力": "none",
    },
    "school": {
        "学前教育": "preschool", "学龄前儿童": "preschool", "小学": "primary", "初中": "junior", "高中": "senior",
        "中职": "vocational", "高职": "vocational", "中专": "vocational", "大专": "college", "本科": "college",
        "大专及以上": "college", "研究生": "college", "文盲或半文盲": "none", "非在校生": "none", "无": "none",
    },
    "medical_insurance": {"是": "yes", "否": "no", "参加": "yes", "未参加": "no"},
    "category": {
        "脱贫户": "lifted", "监测户": "monitored", "监测户（未消除风险）": "monitored",
        "监测户（已消除风险）": "eliminated", "已消除风险": "eliminated", "一般农户": "ordinary", "一般户": "ordinary",
    },
    "monitoring_category": {
        "脱贫不稳定户": "unstable_lifted", "边缘易致贫户": "marginal", "突发严重困难户": "sudden_hardship",
    },
    "disability_grade": {"一级": "1", "二级": "2", "三级": "3", "四级": "4", "1": "1", "2": "2", "3": "3", "4": "4"},
}  # fmt: skip
OTHER_RELATION = "other"
HOUSEHOLD_ID = re.compile(r"^(\d{12})-?(\d{4})\Z")
SEQUENCE = re.compile(r"^\d{1,4}\Z")


class RosterError(BilingualError):
    """The file cannot be read as a roster at all."""


@dataclass
class Row:
    number: int  # the row's number in the file (1-based, as Excel shows it)
    cells: list[Any]
    values: dict[str, str]
    household: str | None = None
    messages: list[dict] = field(default_factory=list)

    @property
    def errors(self) -> list[dict]:
        return [m for m in self.messages if m["severity"] == ERROR]


@dataclass
class Roster:
    header: list[str]
    rows: list[Row]
    households: dict[str, dict]  # household id -> properties (only when the whole file is clean)

    @property
    def errors(self) -> int:
        return sum(len(r.errors) for r in self.rows)

    @property
    def warnings(self) -> int:
        return sum(1 for r in self.rows for m in r.messages if m["severity"] == WARNING)

    @property
    def household_count(self) -> int:
        """Households the file lists, clean or not (``households`` is empty while any row is wrong)."""
        return len({r.household for r in self.rows if r.household})

    def villages(self) -> set[str]:
        return {h.split("-", 1)[0] for h in self.households}


# -- reading files -------------------------------------------------------------------------------
MAX_ROWS = 200_000  # a township of 50,000 households is about 175,000 member rows
MAX_COLUMNS = 64  # the roster has 15 columns; a sheet declaring 16,384 was padded to all of them
MAX_READ_S = 60.0
EMPTY: list[Any] = []


def read_table(name: str, content: bytes) -> list[list[Any]]:
    """The cells of an .xlsx (first sheet) or .csv (UTF-8, or GB18030 as Chinese Excel writes it).

    Bounded whatever the file declares: at most MAX_COLUMNS columns and MAX_ROWS rows are read
    (a 1.6 KB workbook declaring ``A1:XFD1048576`` took a web worker to 7 GB), empty rows cost
    nothing, and reading stops after MAX_READ_S.
    """
    if name.lower().endswith(".xlsx"):
        try:
            book = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
            return _bounded(book.worksheets[0].iter_rows(values_only=True, max_col=MAX_COLUMNS))
        except RosterError:
            raise
        except Exception as exc:  # openpyxl raises many kinds for a file that is not a workbook
            raise RosterError(f"无法读取 Excel 文件：{exc}", f"cannot read the Excel file: {exc}") from None
    if name.lower().endswith(".csv"):
        for encoding in ("utf-8-sig", "gb18030"):
            try:
                text = content.decode(encoding)
            except UnicodeDecodeError:
                continue
            try:
                return _bounded(r[:MAX_COLUMNS] for r in csv.reader(io.StringIO(text)))
            except csv.Error as exc:
                raise RosterError(f"CSV 文件格式有误：{exc}", f"the CSV file is malformed: {exc}") from None
        raise RosterError("CSV 文件编码无法识别（应为 UTF-8 或 GBK）", "the CSV is neither UTF-8 nor GBK")
    raise RosterError("只能导入 .xlsx 或 .csv 文件", "only .xlsx and .csv files can be imported")


def _bounded(rows: Iterable[Sequence[Any]]) -> list[list[Any]]:
    deadline = time.monotonic() + MAX_READ_S
    table: list[list[Any]] = []
    for n, cells in enumerate(rows, 1):
        if n > MAX_ROWS:
            raise RosterError(
                f"文件超过 {MAX_ROWS} 行（含空行），请分村导入",
                f"the file has more than {MAX_ROWS} rows; import it village by village",
            )
        if n % 1000 == 0 and time.monotonic() > deadline:
            raise RosterError(
                "文件读取超时，请检查文件或分村导入", "reading the file took too long; check it or split it"
            )
        cells = list(cells)
        while cells and cells[-1] in (None, ""):
            cells.pop()
        table.append(cells or EMPTY)  # empty rows share one list: row numbers stay as in the file
    return table


def parse(table: list[list[Any]], village: str | None, today: dt.date) -> Roster:
    """Rows → households, every row with its messages. ``village`` completes short household numbers."""
    at, header = _header_row(table)
    columns = {i: HEADERS[_text(h)] for i, h in enumerate(header) if _text(h) in HEADERS}
    missing = [h for h in REQUIRED if h not in columns.values()]
    if missing:
        names = "、".join(k for k, v in HEADERS.items() if v in missing and k in _FIRST)
        raise RosterError(f"缺少必需的列：{names}", f"required columns are missing: {names}")
    rows = []
    for offset, cells in enumerate(table[at + 1 :], start=at + 2):
        values = {f: _text(cells[i]) if i < len(cells) else "" for i, f in columns.items()}
        if any(values.values()):
            rows.append(Row(offset, list(cells), values))
    groups: dict[str, list[Row]] = {}
    for row in rows:
        row.household = _household_id(row, village)
        if row.household:
            groups.setdefault(row.household, []).append(row)
    households = {hid: _household(members, today, hid) for hid, members in groups.items()}
    _cross_household_duplicates(groups)
    clean = not any(r.errors for r in rows)
    return Roster([_text(h) for h in header], rows, households if clean else {})


def _header_row(table: list[list[Any]]) -> tuple[int, list[Any]]:
    for i, cells in enumerate(table[:10]):
        if sum(1 for c in cells if _text(c) in HEADERS) >= 3:
            return i, cells
    raise RosterError(
        "前10行中找不到表头（应含 户编号、姓名、与户主关系 等列）",
        "no header row in the first 10 rows (columns such as 户编号, 姓名, 与户主关系)",
    )


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime | dt.date):
        return value.strftime("%Y-%m-%d")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def _household_id(row: Row, village: str | None) -> str | None:
    raw = row.values["household"].replace(" ", "")
    full = HOUSEHOLD_ID.match(raw)
    if full and (village is None or full.group(1) == village):
        return f"{full.group(1)}-{full.group(2)}"
    if SEQUENCE.match(raw) and village:
        return f"{village}-{int(raw):04d}"
    if full:
        row.messages.append(issue("roster.other_village", "户编号", raw, village=village))
    else:
        row.messages.append(issue("roster.household_id", "户编号", raw))
    return None


def _household(rows: list[Row], today: dt.date, hid: str) -> dict:
    """One household's properties from its rows; row messages are added on the way."""
    members = []
    for row in rows:
        member: dict[str, Any] = {"name": row.values.get("name") or None}
        for key in ("sex", "relation", "health", "disability_type", "labour", "school", "medical_insurance",
                    "disability_grade"):  # fmt: skip
            raw = row.values.get(key, "")
            if not raw:
                continue
            mapped = _several(key, raw) if key == "health" else VALUES[key].get(raw)
            if mapped is None and key == "relation":
                mapped = OTHER_RELATION  # 之曾孙子, 之侄子, 非亲属 … are "other" in the survey
            if mapped is None:
                row.messages.append(_unknown(key, raw))
                continue
            member[key] = int(mapped) if key == "disability_grade" else mapped
        number = row.values.get("id_number", "").upper()
        if number:
            member["id_number"] = number
            if not idcard.well_formed(number) and not idcard.is_placeholder(number):
                row.messages.append(issue("roster.id_format", "id_number", number))
        born = _date(row.values.get("birth_date")) or (
            idcard.birth_date(number) if number and idcard.well_formed(number) else None
        )
        if born:
            member["birth_date"] = born
        if not member["name"]:
            row.messages.append(issue("roster.missing", "name", None, column="姓名"))
        members.append({k: v for k, v in member.items() if v is not None})
    head = next((m for m in members if m.get("relation") == "head"), None)
    props: dict[str, Any] = {"members": members}
    first = next((r for r in rows if _is_head(r)), rows[0])
    welfare = _welfare(rows, first)
    if welfare:
        props["welfare"] = welfare
    for key in ("phone", "category", "monitoring_category", "relocated_household"):
        raw = next((r.values.get(key, "") for r in [first, *rows] if r.values.get(key)), "")
        if raw:
            value = raw if key == "phone" else VALUES[key].get(raw)
            if value is None:
                first.messages.append(_unknown(key, raw))
            else:
                props[key] = value
    props["head_name"] = next((r.values["head_name"] for r in rows if r.values.get("head_name")), None) or (
        head or {}
    ).get("name")
    if head and head.get("id_number"):
        props["head_id_number"] = head["id_number"]
    ctx = Context(today=today, household_id=hid)
    for found in [*check_id_numbers(props, ctx), *check_head(props, ctx), *check_members(props, ctx)]:
        if found["code"] == "member.no_medical_insurance":
            continue  # a survey question, not a roster fault
        for row in _rows_of(found["path"], rows):
            row.messages.append(_in_columns(found))
    for m in members:  # the record keeps dates as text, as a tablet sends them
        if isinstance(m.get("birth_date"), dt.date):
            m["birth_date"] = m["birth_date"].isoformat()
    return {k: v for k, v in props.items() if v is not None}


MEMBER_PATH = re.compile(r"members\[\d+\]/(\w+)")
HOUSEHOLD_WORDS = {"members": "家庭成员", "head_id_number": "户主证件号码", "head_name": "户主姓名"}


def _column(key: str) -> str | None:
    """A field's column as the national system's export names it (the first of its headers)."""
    return next((h for h, k in HEADERS.items() if k == key), None)


def _in_columns(found: dict) -> dict:
    """A household check's message in the file's words: ``members[2]/id_number`` is the 证件号码 of
    the row it is shown on, ``members`` the household's rows."""
    path = found.get("path") or ""
    match = MEMBER_PATH.fullmatch(path)
    column = _column(match.group(1)) if match else HOUSEHOLD_WORDS.get(path)
    if not column:
        return found
    return {**found, "message": {lang: text.replace(path, column, 1) for lang, text in found["message"].items()}}


def _unknown(key: str, raw: str) -> dict:
    """A value the importer cannot map, said with its column as the file names it and the words it
    accepts (one per meaning: 户主, not 户主、本人)."""
    column = _column(key)
    first_word: dict[str, str] = {}
    for word, meaning in VALUES[key].items():
        first_word.setdefault(meaning, word)
    accepted = "、".join(first_word.values())
    return issue("roster.unknown_value", key, raw, column=column, accepted=accepted)


SEPARATORS = re.compile(r"[、，,；;/\s]+")


def _several(key: str, raw: str) -> str | None:
    """A multiple answer ("长期慢性病、残疾") as the survey writes it ("chronic disabled"); None when
    any part is not a known word."""
    parts = [VALUES[key].get(p) for p in SEPARATORS.split(raw) if p]
    return " ".join(dict.fromkeys(parts)) if parts and None not in parts else None  # type: ignore[arg-type]


def _welfare(rows: list[Row], first: Row) -> str | None:
    """The household's assistance: a list column (享受政策) and/or one 是/否 column per kind."""
    found: list[str] = []
    for row in rows:
        listed = row.values.get("welfare", "")
        if listed:
            several = _several("welfare", listed)
            if several is None:
                first.messages.append(_unknown("welfare", listed))
            else:
                found += several.split()
        for column, value in row.values.items():
            if column.startswith("welfare:") and value == "是":
                found.append(column.split(":", 1)[1])
    kinds = list(dict.fromkeys(k for k in found if k != "none"))
    return " ".join(kinds) if kinds else ("none" if found else None)


def _rows_of(path: str, rows: list[Row]) -> Iterable[Row]:
    match = re.match(r"members\[(\d+)\]", path)
    if match and int(match.group(1)) <= len(rows):
        return [rows[int(match.group(1)) - 1]]
    if path == "head_id_number":
        heads = [r for r in rows if _is_head(r)]
        return heads[:1] or rows[:1]
    return rows  # about the household as a whole (no head, several heads): every row of it


def _is_head(row: Row) -> bool:
    return VALUES["relation"].get(row.values.get("relation", "")) == "head"


def _cross_household_duplicates(groups: dict[str, list[Row]]) -> None:
    holders: dict[str, list[tuple[str, Row]]] = {}
    for hid, rows in groups.items():
        for row in rows:
            number = row.values.get("id_number", "").upper()
            if number and idcard.well_formed(number) and not idcard.is_placeholder(number):
                holders.setdefault(number, []).append((hid, row))
    for number, found in holders.items():
        households = sorted({hid for hid, _ in found})
        if len(households) > 1:
            for hid, row in found:
                others = ", ".join(h for h in households if h != hid)
                row.messages.append(issue("roster.duplicate_id", "id_number", number, households=others))


def _date(value: str | None) -> dt.date | None:
    if not value:
        return None
    for fmt in ("%Y-%m-%d", "%Y/%m/%d", "%Y%m%d", "%Y.%m.%d"):
        try:
            return dt.datetime.strptime(value[:10], fmt).date()
        except ValueError:
            continue
    return None


def report_rows(roster: Roster) -> Iterable[list[Any]]:
    """The file's rows with one more column: every message of the row, in both languages."""
    width = max([len(roster.header), *(len(r.cells) for r in roster.rows)])
    yield [*roster.header, *[None] * (width - len(roster.header)), "错误 / errors"]
    for row in roster.rows:
        text = "；".join(
            f"{'错误' if m['severity'] == ERROR else '提醒'}：{m['message']['zh']} / {m['message']['en']}"
            for m in row.messages
        )
        yield [*row.cells, *[None] * (width - len(row.cells)), text]
