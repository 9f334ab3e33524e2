"""The field app's XForm instance ⇄ data (``fieldapp/src/instance.js``) agrees with the server's
reader (``forms/instance.py``), on generated answers to every question of every published form.

The module runs in headless Debian Chromium exactly as bundled (it uses only DOMParser and
XMLSerializer); hypothesis makes the answers. Each example goes data → instance (JS) → data (JS and
Python): both readers must give back the data, so a tablet's doc and an OpenRosa upload of the same
answers are the same submission.
"""

from __future__ import annotations

import base64
import datetime as dt
import uuid

import pytest
from field_app import ARGS, CHROMIUM
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from playwright.sync_api import sync_playwright

from forms import shipped_forms
from forms.instance import read
from forms.spec import compile_xform
from sync.embedded import PROJECT_ROOT

pytestmark = pytest.mark.browser

SOURCE = (PROJECT_ROOT / "fieldapp" / "src" / "instance.js").read_text(encoding="utf-8")
FORMS = {f"{f.form_id}@{f.version}": f for f in shipped_forms()}
TEXT = st.text(alphabet="王李秀英村组号abcXYZ019 <>&\"'", min_size=1, max_size=12).map(str.strip).filter(bool)


@pytest.fixture(scope="module")
def page():
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page()
        page.goto("about:blank")
        url = "data:text/javascript;base64," + base64.b64encode(SOURCE.encode()).decode()
        page.evaluate("async (url) => { window.instance = await import(url); }", url)
        yield page
        browser.close()


def answer(field):
    if field.kind == "integer":
        return st.integers(-(10**9), 10**9)
    if field.kind == "decimal":
        return st.floats(-1e6, 1e6, allow_nan=False).map(lambda x: round(x, 3))
    if field.kind == "date":
        return st.dates(dt.date(1920, 1, 1), dt.date(2030, 12, 31)).map(dt.date.isoformat)
    values = [c.value for c in field.choices or ()]
    if field.kind == "select_one" and values:
        return st.sampled_from(values)
    if field.kind == "select_multiple" and values:
        return st.lists(st.sampled_from(values), min_size=1, max_size=3, unique=True).map(" ".join)
    return TEXT


def form_data(spec):
    """Answers for a random subset of the form's questions, repeats with 0–3 entries."""
    top = [f for f in spec.layout if f.kind != "page" and "/" not in f.path]
    nested = {f.path: [g for g in spec.layout if g.path.startswith(f.path + "/")] for f in top if f.kind == "repeat"}

    def block(fields):
        return st.fixed_dictionaries({}, optional={f.path.rsplit("/", 1)[-1]: answer(f) for f in fields})

    repeats = {name: st.lists(block(kids), max_size=3) for name, kids in nested.items()}
    plain = [f for f in top if f.kind != "repeat"]
    return st.fixed_dictionaries({}, optional={**{f.path: answer(f) for f in plain}, **repeats})


@st.composite
def examples(draw):
    key = draw(st.sampled_from(sorted(FORMS)))
    form = FORMS[key]
    spec = compile_xform(form.xml)
    data = draw(form_data(spec))
    return form, spec, {k: v for k, v in data.items() if v != []}


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(examples())
def test_the_tablet_and_the_server_read_the_same_answers_from_the_same_instance(page, example):
    form, spec, data = example
    instance_id = f"uuid:{uuid.uuid4()}"
    xml, js = page.evaluate(
        """([form, data, id]) => {
          const xml = instance.toInstance(form, data, id);
          return [xml, instance.toData(form, xml)];
        }""",
        [form.xml.decode(), data, instance_id],
    )
    server = read(xml.encode(), spec)
    assert server.form_id == form.form_id and server.version == form.version
    assert server.instance_id == instance_id and js["meta"]["instanceID"] == instance_id
    assert js["data"] == server.data == data
