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
import io
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from forms.spec import FormSpec
from server.casework.privacy import ID_KEYS, PHONE_KEYS, mask_id, mask_phone

CHUNK = 64 * 1024


@dataclass
class Sheet:
    name: str
    columns: list[str]
    headers: list[str]
    rows: Callable[[], Iterable[list[Any]]]  # called once, when the sheet is written


# -- building tables -----------------------------------------------------------------------------
SUBMISSION_META = [
    ("submission_id", "提交编号"),
    ("village_code", "村代码"),
    ("household_id", "户编号"),
    ("form_id", "表单"),
    ("form_version", "表单版本"),
    ("submitted_by", "调查员"),
    ("device_id", "设备"),
    ("completed_at", "完成时间"),
    ("received_at", "到达时间"),
    ("state", "状态"),
    ("errors", "错误数"),
    ("warnings", "警告数"),
]


def spec_columns(spec: FormSpec, within: str = "") -> list[tuple[str, str]]:
    """(path, header) of the answer fields directly in ``within`` (groups flattened, repeats not)."""
    out: list[tuple[str, str]] = []
    for f in spec.children(within):
        if f.kind == "group":
            out += spec_columns(spec, f.path)
        elif f.kind != "repeat":
            out.append((f.path, f"{f.label.get('zh') or f.name} {f.path}"))
    return out


def _value(data: Any, path: str) -> Any:
    for part in path.split("/"):
        data = data.get(part) if isinstance(data, Mapping) else None
    return data


def cell(value: Any, key: str, whole_numbers: bool) -> Any:
    if not whole_numbers and key.rsplit("/", 1)[-1] in ID_KEYS:
        value = mask_id(value)
    elif not whole_numbers and key.rsplit("/", 1)[-1] in PHONE_KEYS:
        value = mask_phone(value)
    if isinstance(value, list | dict):
        return str(value)
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value  # a value must never become a formula in Excel/WPS (CSV injection)
    return value


def submission_sheets(
    spec: FormSpec, items: Callable[[], Iterable[tuple[Mapping, Mapping]]], whole_numbers: bool
) -> list[Sheet]:
    """The main sheet and one per repeat for one form; ``items`` yields (review row, submission doc)."""
    main = spec_columns(spec)
    sheets = [
        Sheet(
            spec.form_id,
            [k for k, _ in SUBMISSION_META] + [p for p, _ in main],
            [h for _, h in SUBMISSION_META] + [h for _, h in main],
            lambda: (
                [cell(row.get(k) if k != "submission_id" else row["id"], k, whole_numbers) for k, _ in SUBMISSION_META]
                + [cell(_value(doc.get("data"), p), p, whole_numbers) for p, _ in main]
                for row, doc in items()
            ),
        )
    ]
    for repeat in spec.repeats:
        columns = spec_columns(spec, repeat)

        def rows(repeat: str = repeat, columns: list = columns) -> Iterator[list[Any]]:
            for row, doc in items():
                for n, item in enumerate(_value(doc.get("data"), repeat) or [], 1):
                    inner = [cell(_value(item, p[len(repeat) + 1 :]), p, whole_numbers) for p, _ in columns]
                    yield [row["id"], row.get("household_id"), n, *inner]

        sheets.append(
            Sheet(
                f"{spec.form_id}.{repeat.replace('/', '.')}",
                ["submission_id", "household_id", "position", *[p for p, _ in columns]],
                ["提交编号 submission_id", "户编号 household_id", "序号 position", *[h for _, h in columns]],
                rows,
            )
        )
    return sheets


HOUSEHOLD_COLUMNS = [
    ("household_id", "户编号"),
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
    records: Callable[[], Iterable[Mapping]], properties: list[str], whole_numbers: bool, step_of: Callable
) -> list[Sheet]:
    """Households and their members; ``properties`` are the property columns, in order."""

    def main() -> Iterator[list[Any]]:
        for r in records():
            tier = r.get("tier") or {}
            meta = {
                "household_id": r["household_id"],
                "village_code": r["village_code"],
                "version": r.get("version"),
                "tier": tier.get("tier"),
                "rules": " ".join(x["id"] for x in tier.get("rules") or []),
                "deadline": tier.get("deadline"),
                "provisional": tier.get("provisional"),
                "identification": step_of(r),
                "conflict": r.get("conflict"),
            }
            props = r.get("properties") or {}
            yield [meta[k] for k, _ in HOUSEHOLD_COLUMNS] + [cell(props.get(p), p, whole_numbers) for p in properties]

    def members() -> Iterator[list[Any]]:
        for r in records():
            for n, m in enumerate((r.get("properties") or {}).get("members") or [], 1):
                if isinstance(m, Mapping):
                    yield [r["household_id"], n, *[cell(m.get(k), k, whole_numbers) for k in MEMBER_FIELDS]]

    return [
        Sheet(
            "households",
            [k for k, _ in HOUSEHOLD_COLUMNS] + properties,
            [f"{h} {k}" for k, h in HOUSEHOLD_COLUMNS] + properties,
            main,
        ),
        Sheet(
            "members",
            ["household_id", "position", *MEMBER_FIELDS],
            ["户编号 household_id", "序号 position", *MEMBER_FIELDS],
            members,
        ),
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
