"""Driving the field app (``/app/``) in headless Debian Chromium with Playwright, as a grid worker does.

Playwright's Python package drives the Debian Chromium binary (``executable_path``); it downloads no
browser. The camera is Chromium's fake capture device fed with a Y4M video of a QR code (a door
card or the enrolment code), so scanning goes through the app's real getUserMedia + jsQR path.

Questions are found by their label as the worker reads it, and answered by clicking the choice or
typing into the box, through ODK Web Forms' own UI. :func:`fill_required` answers whatever the form
still asks for (it presses 提交 and answers the first question marked as missing) with the
answers that ask least of the rest of the form (否, 无, 0).
"""

from __future__ import annotations

import datetime as dt
import io
import re
import time
from pathlib import Path

from browser import CHROMIUM, CHROMIUM_ARGS, SCREENSHOTS
from PIL import Image

ARGS = [
    *CHROMIUM_ARGS,
    "--use-fake-ui-for-media-stream",  # the camera permission prompt is answered yes
    "--use-fake-device-for-media-stream",
]
TABLET = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
LEAST = ("否", "无", "未转移", "无损失", "没有")


def y4m(png: bytes, path: Path, width: int = 640, height: int = 480, frames: int = 10) -> Path:
    """A still picture as a Y4M video (YUV 4:2:0), what Chromium's fake camera plays in a loop."""
    card = Image.open(io.BytesIO(png)).convert("RGB")
    card.thumbnail((height - 40, height - 40))
    frame = Image.new("RGB", (width, height), "white")
    frame.paste(card, ((width - card.width) // 2, (height - card.height) // 2))
    y, cb, cr = frame.convert("YCbCr").split()
    half = (width // 2, height // 2)
    planes = y.tobytes() + cb.resize(half).tobytes() + cr.resize(half).tobytes()
    with path.open("wb") as out:
        out.write(f"YUV4MPEG2 W{width} H{height} F5:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(frames):
            out.write(b"FRAME\n" + planes)
    return path


def launch(playwright, camera: Path | None = None):
    args = list(ARGS)
    if camera is not None:
        args.append(f"--use-file-for-fake-video-capture={camera}")
    return playwright.chromium.launch(executable_path=CHROMIUM, args=args)


def new_tablet(browser, size: dict = TABLET):
    context = browser.new_context(viewport=size, locale="zh-CN", service_workers="allow")
    context.grant_permissions(["camera"])
    page = context.new_page()
    page.errors = []  # type: ignore[attr-defined]
    page.on("pageerror", lambda e: page.errors.append(str(e)))  # type: ignore[attr-defined]
    # what the engine logs as an error (an XPath it could not evaluate) counts; a request that failed
    # because the network is off, or PouchDB's probe for a checkpoint, does not
    page.on("console", lambda m: _console(page, m))
    return context, page


def _console(page, message) -> None:
    # Web Forms' map for a location fetches OpenStreetMap tiles: the app's CSP refuses every
    # foreign origin (the tablet works offline; nothing leaves for a third party), so it shows none
    # and the image resizer (pica) first tries a data: worker, which the CSP refuses; it then uses a
    # blob: worker, which the CSP allows
    refused = "Content Security Policy" in message.text
    tiles = refused and "tile.openstreetmap.org" in message.text
    probe = refused and "Creating a worker from 'data:" in message.text
    if message.type == "error" and not message.text.startswith("Failed to load resource") and not (tiles or probe):
        page.errors.append("console: " + message.text[:300])


def shot(page, name: str, full: bool = False) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full)
    return path


def sign_in(page, url: str, name: str, password: str) -> None:
    page.goto(url + "/app/")
    page.fill("#signin-name", name)
    page.fill("#signin-password", password)
    page.click("#signin button[type=submit]")
    page.wait_for_selector("#households li[data-household]", timeout=60_000)


def signed_in(playwright, url: str, name: str, password: str, camera: Path | None = None):
    """A tablet ready for work: Chromium started, the worker signed in, the app and its lists
    cached for offline use. Returns (browser, context, page)."""
    browser = launch(playwright, camera)
    context, page = new_tablet(browser)
    sign_in(page, url, name, password)
    offline_ready(page)
    return browser, context, page


def until(page, script: str, timeout: float = 60.0, message: str = ""):
    """Poll ``script`` (a function expression run in the page) until it gives something truthy.
    Not ``wait_for_function``: that evaluates a string, which the app's CSP refuses."""
    deadline = time.monotonic() + timeout
    while True:
        value = page.evaluate(script)
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {message or script}")
        page.wait_for_timeout(100)


def offline_ready(page) -> None:
    """The service worker controls the page and the forms' lists are on the device."""
    until(page, "() => !!(navigator.serviceWorker && navigator.serviceWorker.controller)", message="service worker")
    until(page, "() => document.body.dataset.media === '1'", message="form media on the device")


def uploaded(page, message: str = "pending 0") -> None:
    """The outbox is empty: the server has every survey the device saved."""
    until(page, "() => document.querySelector('#sync-badge')?.dataset.pending === '0'", message=message)


def pending(page) -> int:
    return int(page.get_attribute("#sync-badge", "data-pending") or "-1")


def question(page, label: str, nth: int = 0):
    """The question whose label reads ``label`` (the nth such, e.g. in a repeat)."""
    exact = f"xpath=./div[contains(@class,'control-text')]/label[normalize-space(.)='{label}']"
    return page.locator(".question-container", has=page.locator(exact)).nth(nth)


def choose(page, label: str, option: str, nth: int = 0) -> None:
    question(page, label, nth).locator("label.value-option").filter(has_text=option).first.click()


def _type(box, value: str) -> None:
    """Key by key, as on the tablet's keyboard (PrimeVue's number box takes keystrokes, not a paste)."""
    box.click()
    box.press("Control+A")
    box.press("Backspace")
    box.press_sequentially(value)
    box.press("Tab")


def type_in(page, label: str, value: str, nth: int = 0) -> None:
    _type(question(page, label, nth).locator("input:visible, textarea:visible").first, value)


def pick_date(page, label: str, day: dt.date, nth: int = 0) -> None:
    _pick_date(page, question(page, label, nth), day)


def _pick_date(page, container, day: dt.date) -> None:
    """Web Forms' date picker takes no typing: year, month and day are picked from its calendar."""
    container.locator("input").first.click()
    panel = page.locator(".p-datepicker-panel:visible")
    panel.locator(".p-datepicker-select-year").click()
    for _ in range(30):
        year = panel.locator(".p-datepicker-year").filter(has_text=str(day.year))
        if year.count():
            break
        panel.locator(".p-datepicker-prev-button" if day.year < 2020 else ".p-datepicker-next-button").click()
    year.first.click()
    panel.locator(".p-datepicker-month").nth(day.month - 1).click()
    cell = panel.locator("td:not(.p-datepicker-other-month) .p-datepicker-day").filter(has_text=str(day.day))
    cell.filter(has_text=re.compile(rf"^{day.day}$")).first.click()
    page.keyboard.press("Escape")


def _answer_least(container) -> str | None:
    options = container.locator("label.value-option")
    if options.count():
        texts = [options.nth(i).inner_text().strip() for i in range(options.count())]
        pick = next((i for i, t in enumerate(texts) if t in LEAST), 0)
        options.nth(pick).click()
        return texts[pick]
    box = container.locator("input:visible, textarea:visible").first
    if not box.count():
        return None
    if "p-datepicker-input" in (box.get_attribute("class") or ""):
        _pick_date(container.page, container, dt.date.today())
        return "today"
    mode = (box.get_attribute("inputmode") or "") + (box.get_attribute("type") or "")
    value = "0" if ("numeric" in mode or "decimal" in mode) else "无"
    _type(box, value)
    return value


def send(page) -> None:
    page.locator("#webform").get_by_role("button", name="Send").click()


def fill_required(page, limit: int = 150) -> list[tuple[str, str | None]]:
    """Press Send; while a question is marked, answer it the least demanding way, and send again.

    Web Forms may leave a question's message up after it was answered (a date picked after the
    box lost focus shows 请填写 until the next change): a question answered twice is passed over.
    """
    answered: list[tuple[str, str | None]] = []
    tries: dict[str, int] = {}
    for _ in range(limit):
        send(page)
        try:
            page.wait_for_selector(
                "#webform .question-container:has(.validation-message:visible), main:not(.survey)", timeout=5_000
            )
        except Exception:  # nothing marked yet and still on the form: send again
            continue
        if not page.locator("#webform").count():
            return answered
        marked = page.locator("#webform .question-container:has(.validation-message:visible)")
        ids = [marked.nth(i).get_attribute("id") for i in range(marked.count())]
        todo = [i for i, qid in enumerate(ids) if tries.get(qid or "", 0) < 2]
        if not todo:
            shot(page, "fieldapp-stuck", full=True)
            raise AssertionError(
                f"answered already: {answered[-8:]}; the form says: {violations(page)}; "
                f"the app says: {page.inner_text('#survey-status')!r}; page errors: {page.errors}"
            )
        container = marked.nth(todo[0])
        tries[ids[todo[0]] or ""] = tries.get(ids[todo[0]] or "", 0) + 1
        container.scroll_into_view_if_needed()
        label = container.locator("label").first.inner_text().strip()
        label += " | " + container.locator(".validation-message").first.inner_text().strip()
        value = _answer_least(container)
        if value is None:
            raise AssertionError(f"cannot answer {label!r}: {container.inner_html()[:600]}")
        answered.append((label, value))
    raise AssertionError(f"the survey was not saved after {limit} answers: {answered[-8:]}")


def violations(page) -> list | None:
    """What the form engine itself still refuses (for failure messages): its form tree is found as
    the app finds it, through the vnode Vue leaves on the form's container."""
    return page.evaluate(
        """() => {
      const walk = (v, d) => {
        if (!v || d > 60) return null;
        const f = v.props && v.props.form;
        if (f && f.validationState) return f;
        if (v.component) return walk(v.component.subTree, d + 1);
        for (const c of Array.isArray(v.children) ? v.children : []) { const r = walk(c, d + 1); if (r) return r; }
        return null;
      };
      const root = walk(document.getElementById('webform')?._vnode, 0);
      return root ? root.validationState.violations.map((v) => [v.reference, v.violation.condition]) : null;
    }"""
    )


def indexeddb_docs(page, bodies: bool = False) -> list[dict]:
    """Every document the device holds, read from IndexedDB directly (not through the app): the rows
    of PouchDB's ``indexeddb`` adapter, ``docs`` (one per doc id, every stored revision inside) and,
    with ``bodies``, also ``meta`` (the ``_local`` docs), each as ``{"db", "id", "deleted"[, "body"]}``."""
    return page.evaluate(
        """async (bodies) => {
      const all = (db, store) => new Promise((ok, no) => {
        const r = db.transaction(store).objectStore(store).getAll();
        r.onsuccess = () => ok(r.result); r.onerror = no; });
      const out = [];
      for (const info of await indexedDB.databases()) {
        if (!info.name.startsWith('_pouch_fangpin_')) continue;
        const db = await new Promise((ok, no) => {
          const r = indexedDB.open(info.name); r.onsuccess = () => ok(r.result); r.onerror = no; });
        const has = (s) => db.objectStoreNames.contains(s);
        for (const store of (bodies ? ['docs', 'meta'] : ['docs']).filter(has)) {
          for (const row of await all(db, store)) {
            out.push({ db: info.name, id: row.id, deleted: !!row.deleted, ...(bodies ? { body: row } : {}) });
          }
        }
        db.close();
      }
      return out;
    }""",
        bodies,
    )
