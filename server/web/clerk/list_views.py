"""The lists a township reports (报送名单): the half-monthly warning list, the result notice after
the county's approval, the register of warnings and monitored households, and the national
system's layout for 录入建档. Built by :mod:`server.casework.lists` from the household records the
account sees; each as a page (printable) and as CSV / XLSX with Chinese headers, every export
audited. The national layout carries ID numbers and phones masked unless asked whole (audited).
"""

from __future__ import annotations

from flask import abort, request

from server.casework import exports, lists
from server.web.clerk import bp
from server.web.clerk import households as households_page
from server.web.clerk.common import clerk, places, render, staff, today, villages, visible_records
from server.web.clerk.export_views import MIME, send
from server.web.clerk.identification_views import measure_name
from server.web.identification_api import policy


def words() -> lists.Words:
    def rule(village: str, rule_id: str) -> str:
        title = (policy().for_county(village[:6])["rules"].get(rule_id) or {}).get("title")
        return f"{rule_id} {title['zh']}" if title else rule_id  # a policy stored before titles: the id

    def label(key: str, value: object) -> str:
        return "" if value in (None, "", []) else households_page.show(value, key)

    return lists.Words(places(), label, rule)


def _table(kind: str, title: str, headers: list[str], rows: list[list], fmt: str | None, before: str = "",
           after: str = "", **page):  # fmt: skip
    """The list as a page, or (``fmt``) as a download of one sheet; the title is ``before`` + title
    + (``after``): a village's name, a period."""
    if fmt is None:
        return render("list.html", kind=kind, title=title, before=before, after=after, headers=headers, rows=rows,
                      zip=zip, **page)  # fmt: skip
    if fmt not in MIME:
        abort(404)
    sheet = exports.Sheet(before + title + (f"（{after}）" if after else ""), headers, headers, lambda: rows)
    return send(kind, fmt, [sheet], len(rows))


BAD_PERIOD = "period 应为 2026-11-1（上半月）或 2026-11-2（下半月） / period is 2026-11-1 (1st-15th) or 2026-11-2"


@bp.get("/lists")
def list_index():
    staff()
    return render("lists.html", periods=lists.previous_periods(today()), period_name=lists.period_name)


@bp.get("/warnings", defaults={"fmt": None})
@bp.get("/warnings.<fmt>")
def warning_list(fmt: str | None):
    """预警人员名单 of a half month (``period=2026-11-2``; this one by default)."""
    user = staff()
    period = request.args.get("period") or lists.half_month(today())
    days = lists.period_days(period)
    if days is None:
        abort(400, description=BAD_PERIOD)
    rows = lists.warning_rows(visible_records(user), *days, words())
    return _table("warnings", "预警人员名单", lists.WARNING_HEADERS, rows, fmt, after=lists.period_name(period),
                  period=period,
                  periods=lists.previous_periods(today()), period_name=lists.period_name)  # fmt: skip


@bp.get("/results", defaults={"fmt": None})
@bp.get("/results.<fmt>")
def result_list(fmt: str | None):
    """监测对象认定结果公告: approved by the county, to be posted in the village."""
    user = staff()
    village = request.args.get("village", "")
    rows = lists.result_rows(visible_records(user), words(), village)
    return _table(
        "results",
        "监测对象认定结果公告",
        lists.RESULT_HEADERS,
        rows,
        fmt,
        before=places().get(village, "") if village else "",
        village=village,
        villages=villages(user),
    )


@bp.get("/register", defaults={"fmt": None})
@bp.get("/register.<fmt>")
def register(fmt: str | None):
    """预警信息和监测对象台账: every household under identification, the day of each step."""
    user = staff()

    rows = lists.register_rows(visible_records(user), words(), today(), measure_name)
    return _table("register", "预警信息和监测对象台账", lists.REGISTER_HEADERS, rows, fmt)


@bp.get("/export/national.<fmt>")
def national_export(fmt: str):
    """Monitored households and their members in the national system's layout, for 录入建档 (the
    township's step); CSV gives ``sheet=家庭成员`` on asking. ID numbers, phones and health are
    masked unless ``numbers=whole`` (audited)."""
    user = clerk()
    if fmt not in MIME:
        abort(404)
    whole, said, records = request.args.get("numbers") == "whole", words(), list(visible_records(user))
    households = lists.national_rows(records, said, whole)
    members = lists.national_member_rows(records, said, whole)
    sheets = [
        exports.Sheet("监测对象", lists.NATIONAL_HEADERS, lists.NATIONAL_HEADERS, lambda: households),
        exports.Sheet("家庭成员", lists.NATIONAL_MEMBER_HEADERS, lists.NATIONAL_MEMBER_HEADERS, lambda: members),
    ]
    return send("national", fmt, sheets, len(households))
