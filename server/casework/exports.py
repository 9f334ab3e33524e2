"""Export tables: submissions (one column per form field, repeats as their own sheet) and
households (properties, tier, identification; members as their own sheet), written as CSV or
XLSX and streamed.

Tables are built row by row from plain data (pure), so a 100,000-row export never sits in memory
as a whole: CSV goes out line by line, XLSX through openpyxl's write-only workbook into a
temporary file that is then sent in chunks. ID and phone numbers are masked unless the caller
asked for whole numbers and may have them (the view decides and audits that).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from forms.spec import Field, FormSpec, choice_labels
from server.casework.privacy import ID_KEYS, PHONE_KEYS, mask_id, mask_phone

CHUNK = 64 * 1024


@dataclass
class Sheet:
    name: str
    columns: list[str]
    headers: list[str]
    rows: Callable[[], Iterable[list[Any]]]  # called once, when the sheet is written


# -- building tables -----------------------------------------------------------------------------
# Everything a clerk opens in Excel or WPS is in Chinese (issue 19): headers are the forms' labels,
# answers their choice labels, times Beijing time, villages their names; the codes a machine needs
# (户编号, 村代码) stay as their own columns.
BEIJING = dt.timezone(dt.timedelta(hours=8))
SUBMISSION_META = [
    ("submission_id", "提交编号"),
    ("village", "村"),
    ("village_code", "村代码"),
    ("household_id", "户编号"),
    ("form", "表单"),
    ("form_version", "表单版本"),
    ("submitted_by", "调查员"),
    ("device_id", "设备"),
    ("completed_at", "完成时间"),
    ("received_at", "到达时间"),
    ("state", "状态"),
    ("errors", "错误数"),
    ("warnings", "警告数"),
]


@dataclass(frozen=True)
class Names:
    """How codes read in an export: village names, form names, review states (Chinese)."""

    villages: Mapping[str, str]
    forms: Mapping[str, str]
    states: Mapping[str, str]


def beijing(stamp: Any) -> Any:
    """An ISO time as Beijing wall time (``2026-11-20 09:20``); anything else as it is."""
    if not isinstance(stamp, str) or "T" not in stamp:
        return stamp
    try:
        moment = dt.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return stamp
    return (moment.astimezone(BEIJING) if moment.tzinfo else moment).strftime("%Y-%m-%d %H:%M")


def spec_columns(spec: FormSpec, within: str = "") -> list[tuple[str, str]]:
    """(path, header) of the questions directly in ``within`` (groups flattened, repeats not);
    the header is the question's Chinese label, made unique where two questions share one."""
    out: list[tuple[str, str]] = []
    for f in spec.children(within):
        if f.kind == "group":
            out += spec_columns(spec, f.path)
        elif f.kind != "repeat" and f.label:  # unlabelled: the form's bookkeeping, not a question
            out.append((f.path, f.label.get("zh") or f.name))
    return unique_headers(out)


def unique_headers(columns: list[tuple[str, str]]) -> list[tuple[str, str]]:
    seen: dict[str, int] = {}
    out = []
    for key, header in columns:
        seen[header] = seen.get(header, 0) + 1
        out.append((key, header if seen[header] == 1 else f"{header}（{seen[header]}）"))
    return out


def _value(data: Any, path: str) -> Any:
    for part in path.split("/"):
        data = data.get(part) if isinstance(data, Mapping) else None
    return data


def cell(value: Any, key: str, whole_numbers: bool, field: Field | None = None) -> Any:
    if not whole_numbers and key.rsplit("/", 1)[-1] in ID_KEYS:
        value = mask_id(value)
    elif not whole_numbers and key.rsplit("/", 1)[-1] in PHONE_KEYS:
        value = mask_phone(value)
    labels = choice_labels(field, value)
    if labels is not None:
        value = labels["zh"]
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, list | dict):
        return str(value)
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value  # a value must never become a formula in Excel/WPS (CSV injection)
    return value


def _meta(row: Mapping, names: Names) -> dict[str, Any]:
    return {
        **row,
        "submission_id": row["id"],
        "village": names.villages.get(row.get("village_code") or "", row.get("village_code")),
        "form": names.forms.get(row.get("form_id") or "", row.get("form_id")),
        "completed_at": beijing(row.get("completed_at")),
        "received_at": beijing(row.get("received_at")),
        "state": names.states.get(row.get("state") or "", row.get("state")),
    }


def all_submissions_sheet(items: Callable[[], Iterable[Mapping]], names: Names) -> Sheet:
    """Every submission of every form, the facts they share (the queue's columns)."""

    def rows() -> Iterator[list[Any]]:
        for r in items():
            meta = _meta(r, names)
            yield [cell(meta.get(k), k, True) for k, _ in SUBMISSION_META]

    return Sheet("全部提交", [k for k, _ in SUBMISSION_META], [h for _, h in SUBMISSION_META], rows)


def submission_sheets(
    spec: FormSpec, items: Callable[[], Iterable[tuple[Mapping, Mapping]]], whole_numbers: bool, names: Names
) -> list[Sheet]:
    """The main sheet and one per repeat for one form; ``items`` yields (review row, submission doc)."""
    main = spec_columns(spec)
    form_name = names.forms.get(spec.form_id, spec.form_id)
    sheets = [
        Sheet(
            form_name,
            [k for k, _ in SUBMISSION_META] + [p for p, _ in main],
            [h for _, h in SUBMISSION_META] + [h for _, h in main],
            lambda: (
                [cell(_meta(row, names).get(k), k, whole_numbers) for k, _ in SUBMISSION_META]
                + [cell(_value(doc.get("data"), p), p, whole_numbers, spec.fields.get(p)) for p, _ in main]
                for row, doc in items()
            ),
        )
    ]
    for repeat in spec.repeats:
        columns = spec_columns(spec, repeat)
        group = spec.fields[repeat].label.get("zh") or repeat

        def rows(repeat: str = repeat, columns: list = columns) -> Iterator[list[Any]]:
            for row, doc in items():
                for n, item in enumerate(_value(doc.get("data"), repeat) or [], 1):
                    inner = [cell(_value(item, p[len(repeat) + 1 :]), p, whole_numbers, spec.fields.get(p))
                             for p, _ in columns]  # fmt: skip
                    yield [row["id"], row.get("household_id"), n, *inner]

        sheets.append(
            Sheet(
                f"{form_name}·{group}",
                ["submission_id", "household_id", "position", *[p for p, _ in columns]],
                ["提交编号", "户编号", "序号", *[h for _, h in columns]],
                rows,
            )
        )
    return sheets


TIER_NAMES = {"high": "高风险", "medium": "中风险", "low": "低风险"}
CONFLICT_NAMES = {"hard": "有冲突（须处理）", "soft": "并发修改（无冲突）"}
HOUSEHOLD_COLUMNS = [
    ("household_id", "户编号"),
    ("village", "村"),
    ("village_code", "村代码"),
    ("version", "版本"),
    ("tier", "风险等级"),
    ("rules", "依据"),
    ("deadline", "期限"),
    ("provisional", "待定"),
    ("identification", "识别进度"),
    ("conflict", "冲突"),
]
MEMBER_FIELDS = ["name", "id_number", "sex", "relation", "birth_date", "health", "disability_grade", "labour",
                 "school", "out_of_school", "medical_insurance"]  # fmt: skip


def household_sheets(
    records: Callable[[], Iterable[Mapping]],
    properties: list[tuple[str, Field]],
    whole_numbers: bool,
    step_of: Callable,
    villages: Mapping[str, str],
    members_spec: Mapping[str, Field],
) -> list[Sheet]:
    """Households and their members; ``properties`` are the property columns (key, field), in order."""
    headers = unique_headers([(k, f.label.get("zh") or k) for k, f in properties])

    def main() -> Iterator[list[Any]]:
        for r in records():
            tier = r.get("tier") or {}
            meta = {
                "household_id": r["household_id"],
                "village": villages.get(r["village_code"], r["village_code"]),
                "village_code": r["village_code"],
                "version": r.get("version"),
                "tier": TIER_NAMES.get(tier.get("tier") or "", "未定级"),
                "rules": " ".join(x["id"] for x in tier.get("rules") or []),
                "deadline": tier.get("deadline"),
                "provisional": "是" if tier.get("provisional") else "否",
                "identification": step_of(r),
                "conflict": CONFLICT_NAMES.get(r.get("conflict") or "", ""),
            }
            props = r.get("properties") or {}
            yield [meta[k] for k, _ in HOUSEHOLD_COLUMNS] + [
                cell(props.get(k), k, whole_numbers, f) for k, f in properties
            ]

    def members() -> Iterator[list[Any]]:
        for r in records():
            for n, m in enumerate((r.get("properties") or {}).get("members") or [], 1):
                if isinstance(m, Mapping):
                    yield [r["household_id"], n, *[cell(m.get(k), k, whole_numbers, members_spec.get(k))
                                                   for k in MEMBER_FIELDS]]  # fmt: skip

    member_headers = [(members_spec[k].label.get("zh") if k in members_spec else None) or k for k in MEMBER_FIELDS]
    return [
        Sheet(
            "农户",
            [k for k, _ in HOUSEHOLD_COLUMNS] + [k for k, _ in properties],
            [h for _, h in HOUSEHOLD_COLUMNS] + [h for _, h in headers],
            main,
        ),
        Sheet("家庭成员", ["household_id", "position", *MEMBER_FIELDS], ["户编号", "序号", *member_headers], members),
    ]


# -- writing -------------------------------------------------------------------------------------
def csv_stream(sheet: Sheet) -> Iterator[bytes]:
    """CSV with a BOM (Excel and WPS then read UTF-8 Chinese correctly), a line at a time."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    yield "\ufeff".encode()
    writer.writerow(sheet.headers)
    for row in sheet.rows():
        writer.writerow(["" if v is None else v for v in row])
        if buffer.tell() > CHUNK:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode()


def _cell(value: Any) -> Any:
    """Control characters (a device may send any) have no place in XLSX: openpyxl refused the
    whole export for one. They are shown as U+FFFD, as a reader's replacement character."""
    return ILLEGAL_CHARACTERS_RE.sub("\ufffd", value) if isinstance(value, str) else value


def xlsx_stream(sheets: list[Sheet]) -> Iterator[bytes]:
    """An XLSX of the sheets, written with openpyxl's write-only workbook, then sent in chunks."""
    book = Workbook(write_only=True)
    for sheet in sheets:
        ws = book.create_sheet(title=sheet.name[:31])
        ws.append(sheet.headers)
        for row in sheet.rows():
            ws.append([_cell(v) for v in row])
    with tempfile.TemporaryFile() as tmp:
        book.save(tmp)
        tmp.seek(0)
        while chunk := tmp.read(CHUNK):
            yield chunk
