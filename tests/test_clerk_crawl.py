"""Every page of the clerk app, crawled in both languages as each staff role (issue 19).

From the dashboard, every link a township clerk, a village committee and a county official can
follow is opened in Chinese and in English (the data: a township with roster households, valid,
invalid, conflicting, duplicate and damage surveys, an identification, an open event). Two
things must hold on every page:

* Chinese pages show no internal keys: no snake_case field or code names, no raw choice or state
  codes as words, no bare village or township code where its name belongs;
* English pages leave no interface text of the app in Chinese: no text of the one translation
  table (``i18n.EN``) or of the code words (``words.py``) appears untranslated.

Data the clerk typed or the grid worker answered (names, Chinese choice labels, comments) may
stay as written. The crawl's counts are written to ``artifacts/crawl.json``.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import uuid
from collections import Counter
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import lxml.html
import records
from openpyxl import load_workbook
from test_clerk_app import sign_in
from test_household_worker import push, roster, run, survey

from server.access.accounts import add_area, list_users
from server.casework import lists
from server.casework.review import STATE_NAMES
from server.pipeline import event_store
from server.web.clerk import words
from server.web.clerk.i18n import EN
from sync import names

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
SNAKE = re.compile(r"\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b")
BARE_CODE = re.compile(r"(?<![\w-])\d{9}(?:\d{3})?(?![\w-])")  # a township (9) or village (12) code
# raw codes a Chinese page must say in words (choice names of the forms, states, tiers)
RAW = {"high", "medium", "low", "flagged", "pending", "approved", "returned", "rejected", "edited",
       "collapsed", "severe", "minor", "female", "male", "field", "lifted", "members", "worker",
       "clerk", "true", "false", "None", "null"}  # fmt: skip
SKIP = re.compile(r"/clerk/(?:lang/|logout)|\.(?:csv|xlsx|pdf|png|jpg)$|/files/|/odk\.")
PER_PATTERN = 3  # pages of one route (three households), not every one


def visible_text(html: str) -> list[str]:
    """The page's text nodes a reader sees (no script, style, hidden template)."""
    tree = lxml.html.fromstring(html)
    for bad in tree.xpath("//script|//style|//template|//noscript"):
        bad.drop_tree()
    out = [t.strip() for t in tree.xpath("//body//text()") if t.strip()]
    out += [v.strip() for v in tree.xpath("//body//@title|//body//@placeholder|//body//@aria-label") if v.strip()]
    out += [v.strip() for v in tree.xpath("//input[@type='submit' or @type='button']/@value") if v.strip()]
    return out


def links(html: str, base: str) -> list[str]:
    tree = lxml.html.fromstring(html)
    found = []
    for href in tree.xpath("//a/@href"):
        url = urljoin(base, href)
        parts = urlsplit(url)
        if parts.path.startswith("/clerk/") and not SKIP.search(parts.path):
            found.append(parts.path + (f"?{parts.query}" if parts.query else ""))
    return found


def pattern(path: str) -> str:
    """The route a path belongs to: ids and query values masked."""
    route = re.sub(r"/new-[0-9a-f-]+", "/<new>", path.split("?")[0])  # a provisional household: a route of its own
    route = re.sub(
        r"/[0-9a-f]{32}|/[0-9a-f-]{36}|/\d{12}-\d{4}|/\d{9}-\d{4}-\d{2}-[a-z_]+(?:-\d+)?",
        "/<id>",
        route,
    )
    query = sorted({kv.split("=")[0] for kv in (path.split("?", 1)[1].split("&") if "?" in path else [])})
    return route + ("?" + "&".join(query) if query else "")


def crawl(client, start: str = "/clerk/") -> dict[str, str]:
    """Every page reachable from ``start``: path -> HTML (at most PER_PATTERN per route)."""
    seen: dict[str, str] = {}
    per: Counter[str] = Counter()
    todo = [start]
    while todo:
        path = todo.pop(0)
        if path in seen or per[pattern(path)] >= PER_PATTERN:
            continue
        resp = client.get(path)
        if resp.status_code in (301, 302, 303):
            todo.append(urlsplit(resp.headers["Location"]).path)
            continue
        assert resp.status_code == 200, (path, resp.status_code)
        if "text/html" not in resp.content_type:
            continue
        per[pattern(path)] += 1
        seen[path] = html = resp.get_data(as_text=True)
        todo += [link for link in links(html, path) if link not in seen]
    return seen


def download_links(pages: dict[str, str]) -> list[str]:
    """Every CSV / XLSX the crawled pages offer, plus the export page's own forms, one per route."""
    found = (
        {"/clerk/export/submissions.xlsx?state=all", "/clerk/export/households.xlsx"}
        if "/clerk/export" in pages
        else set()
    )
    for path, html in pages.items():
        for href in lxml.html.fromstring(html).xpath("//a/@href"):
            url = urlsplit(urljoin(path, href))
            if url.path.startswith("/clerk/") and re.search(r"\.(csv|xlsx)$", url.path):
                found.add(url.path + (f"?{url.query}" if url.query else ""))
    per: dict[str, str] = {}
    for link in sorted(found):
        per.setdefault(pattern(link), link)
    return sorted(per.values())


def download_cells(client, link: str) -> list[str]:
    """The text of every header and cell of a download (every sheet of an XLSX)."""
    resp = client.get(link)
    assert resp.status_code == 200, (link, resp.status_code)
    if link.split("?")[0].endswith(".csv"):
        return [c for row in csv.reader(io.StringIO(resp.get_data().decode("utf-8-sig"))) for c in row if c]
    book = load_workbook(io.BytesIO(resp.get_data()), read_only=True)
    return [
        str(c) for ws in book.worksheets for row in ws.iter_rows(values_only=True) for c in row if c not in (None, "")
    ]


def interface_texts() -> set[str]:
    """The app's own Chinese texts: the translation table and the code words, as a reader sees them."""
    found = set(EN)
    for table in words.WORDS.values():
        found |= {zh for zh, _ in table.values()}
    found |= {zh for zh, _ in STATE_NAMES.values()}
    found |= {*lists.WARNING_HEADERS, *lists.RESULT_HEADERS, *lists.REGISTER_HEADERS}  # the lists' columns
    # and every Chinese literal of the templates, translated or not (a text written into a
    # template without _() is in no table); the language switch names Chinese in Chinese
    for path in (Path(__file__).resolve().parent.parent / "server" / "web" / "templates" / "clerk").glob("*.html"):
        found |= set(re.findall(r"[\u4e00-\u9fff][^\x00-\x7f]*[\u4e00-\u9fff]", path.read_text()))
    found.discard("中文")
    # a text with placeholders is recognised by its fixed part before the first one
    return {re.split(r"\{\w+\}", t)[0].strip() for t in found} - {""}


def leftovers_zh(texts: list[str], accounts: set[str]) -> list[str]:
    """Internal keys and codes in a Chinese page's text (account names are names: they stay)."""
    bad = []
    for text in texts:
        bad += [f"key {m}" for m in SNAKE.findall(text) if m not in accounts]
        bad += [f"code {w}" for w in re.findall(r"[A-Za-z]+", text) if w in RAW and w not in accounts]
        bad += [f"area code {m}" for m in BARE_CODE.findall(text)]
    return bad


def leftovers_en(texts: list[str], ui: set[str]) -> list[str]:
    """Texts of the app left in Chinese: the whole text node is one, or starts with a long one
    (data such as a head's name 户主4 may begin with a short interface word)."""
    return [t for t in texts if re.search(r"[\u4e00-\u9fff]", t)
            and (t.rstrip("：:") in ui or any(t.startswith(u) for u in ui if len(u) >= 4))]  # fmt: skip


def township_day(conn, a: str, b: str) -> None:
    """A township's data with every kind of page content; its township and county have names."""
    add_area(conn.admin, a[:9], "大盛镇")
    add_area(conn.admin, a[:6], "渝北区")
    roster(conn, a, 6)
    roster(conn, b, 2)
    push(conn, a, survey(a, f"{a}-0001", seq=1))
    push(conn, a, survey(a, f"{a}-0002", "gw_a", "tab-1", seq=2, phone="13900139000"),
         survey(a, f"{a}-0002", "gw_a", "tab-2", seq=1, phone="13700137000"))  # fmt: skip
    bad = survey(a, f"{a}-0003", seq=3)
    bad["data"]["survey_date"] = "昨天"  # not a date
    push(conn, a, bad)
    provisional = f"new-{uuid.uuid4()}"
    push(conn, a, survey(a, provisional, seq=4, head_name="户主5", head_id_number=""))  # a possible duplicate
    damage = records.submission("damage_survey", uuid.uuid4().hex, village_code=a, household_id=f"{a}-0004")
    damage.pop("_rev")
    push(conn, a, damage)
    push(conn, b, survey(b, f"{b}-0001", user="gw_b", seq=1))
    start = dt.date(2026, 11, 18)
    event_store.open_event(conn.admin, a[:9], "flood", start, [], "clerk", start, "11·18 洪涝")
    run(conn)
    run(conn)


def check_role(client, name: str, accounts: set[str]) -> dict:
    sign_in(client, name)
    report: dict = {"pages": {}, "strings": 0, "routes": set()}
    ui = interface_texts()
    for lang in ("zh", "en"):
        client.set_cookie("fangpin_lang", lang)
        pages = crawl(client)
        report["routes"] |= {pattern(p) for p in pages}
        report["provisional_seen"] = any("/households/new-" in p for p in pages)
        report["pages"][lang] = len(pages)
        found = {}
        for path, html in pages.items():
            texts = visible_text(html)
            report["strings"] += len(texts)
            bad = leftovers_zh(texts, accounts) if lang == "zh" else leftovers_en(texts, ui)
            if bad:
                found[path] = sorted(set(bad))
        assert found == {}, f"{name} ({lang}): {json.dumps(found, ensure_ascii=False, indent=1)}"
        if lang == "zh":  # exports and reports are Chinese whatever the screen's language
            report["downloads"], cells = download_links(pages), 0
            for link in report["downloads"]:
                texts = download_cells(client, link)
                cells += len(texts)
                # an export may carry codes as data under their own header (村代码): words, not keys
                bad = [b for b in leftovers_zh(texts, accounts) if not b.startswith("area code")]
                assert bad == [], f"{name} {link}: {sorted(set(bad))}"
            report["cells"] = cells
    report["routes"] = sorted(report["routes"])
    return report


def test_every_page_in_both_languages_speaks_words_not_codes(app, conn, township):
    township_day(conn, township.a, township.b)
    assert conn.admin.get(names.CASES, f"household:{township.a}-0001")
    accounts = {u.name for u in list_users(conn.admin)}
    reports = {name: check_role(app.test_client(), name, accounts) for name in ("clerk", "village_a", "county")}
    clerk = reports["clerk"]
    assert clerk["provisional_seen"]  # a household first met on a tablet was among the pages read
    assert clerk["pages"]["zh"] >= 20 and clerk["pages"]["zh"] == clerk["pages"]["en"]  # the crawl went deep
    for route in (
        "/clerk/queue",
        "/clerk/submissions/<id>",
        "/clerk/households/<id>",
        "/clerk/export",
        "/clerk/identification",
        "/clerk/events",
        "/clerk/devices",
        "/clerk/roster",
        "/clerk/cards",
        "/clerk/lists",
        "/clerk/warnings",
        "/clerk/results",
        "/clerk/register",
    ):
        assert any(r.startswith(route) for r in clerk["routes"]), route
    ARTIFACTS.mkdir(exist_ok=True)
    summary = {
        n: {
            "pages": r["pages"],
            "strings": r["strings"],
            "routes": len(r["routes"]),
            "downloads": len(r["downloads"]),
            "download_cells": r["cells"],
        }
        for n, r in reports.items()
    }
    summary["translation_table"] = len(EN)
    (ARTIFACTS / "crawl.json").write_text(json.dumps(summary, ensure_ascii=False, indent=1))
