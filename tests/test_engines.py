"""Every published form in a real XForm engine, filled as a grid worker fills it.

JavaRosa (ODK Collect's engine) steps through each form with the per-user media the server
makes; the instance the engine itself serialises goes to ``/submission`` and must come out of the
worker as a review without errors. Each in-form check is shown refusing a bad value with its
Chinese message, while the server keeps its own checks.
"""

from __future__ import annotations

import copy
import datetime as dt
import re
import uuid

import pytest
import records
from collect import Run, answers_for, compile_driver, render_in_web_forms, step_through
from lxml import etree
from test_household_worker import roster
from test_openrosa import manifest_files, post

from forms import current_forms, shipped_forms
from forms.spec import spec_for
from server.pipeline import event_store
from server.pipeline.worker import Worker
from sync import names

PHOTO = b"\xff\xd8\xff\xe0" + b"flooded-house" * 20 + b"\xff\xd9"
DEVICE = {"deviceid": "collect:Xk2LQ9", "username": "gw_a"}


@pytest.fixture(scope="session")
def javarosa(tmp_path_factory):
    return compile_driver(tmp_path_factory.mktemp("collect-driver"))


@pytest.fixture(params=["javarosa", "webforms"])
def engine(request):
    """JavaRosa (the compiled driver's classes) or ODK Web Forms' engine (None)."""
    return request.getfixturevalue("javarosa") if request.param == "javarosa" else None


# ODK Web Forms 0.22's UI bundles an engine that cannot load the first release's household form:
# decimal-date-time() on a date node (getodk/web-forms#740); release 2026120101 no longer calls it.
WEB_FORMS_740 = {("household_survey", records.V1)}


@pytest.mark.parametrize("form", shipped_forms(), ids=lambda f: f"{f.form_id}-{f.version}")
def test_every_published_form_loads_in_the_odk_web_forms_ui(form, client, conn, township):
    from browser import SCREENSHOTS

    roster(conn, township.a, 3)
    media = {name: body for name, (_, body) in manifest_files(client, form.form_id).items()}
    latest = form.version == records.VERSION
    shot = SCREENSHOTS / f"web-forms-{form.form_id}.png" if latest else None
    shown = render_in_web_forms(form.xml, media, shot)
    if (form.form_id, form.version) in WEB_FORMS_740:
        assert not shown["loaded"] and "date-time conversion" in shown["text"]
        return
    assert shown["loaded"] and shown["errors"] == [], shown["text"][:2000]
    spec = spec_for(form.xml)
    first_page = [f for f in spec.layout if f.label.get("zh") and f.kind not in ("page", "note", "calculate")][:3]
    for field in first_page:  # the first screen's questions, in Chinese, with the worker's own villages
        assert field.label["zh"].split("$")[0] in shown["text"], field.path
    if "village_code" in spec.fields and spec.fields["village_code"].kind == "select_one":
        assert "石坪村" in shown["text"] and "龙井村" not in shown["text"]


def open_flood(conn, *villages: str) -> str:
    """The township's flood of 2026-11-18 (the id the records name), open for ``villages``."""
    doc, _ = event_store.open_event(conn.admin, "500112104", "flood", dt.date(2026, 11, 18), villages, "clerk",
                                    dt.date.today())  # fmt: skip
    return doc["event_id"]


def worker_answers(form_id: str, version: str, village: str, today: dt.date) -> dict:
    """What a worker enters for household 0001 of ``village`` today, in this release's shape."""
    data = copy.deepcopy(records.DATA[form_id])
    data.update(village_code=village, household_id=f"{village}-0001", survey_date=today.isoformat())
    if form_id == "damage_survey":
        data["disaster_date"] = (today - dt.timedelta(days=2)).isoformat()
    return records.picked(data, version)


@pytest.mark.parametrize("form", shipped_forms(), ids=lambda f: f"{f.form_id}-{f.version}")
def test_every_published_form_filled_in_each_engine_is_a_review_without_errors(form, engine, client, conn, township):
    a = township.a
    roster(conn, a, 3)
    assert open_flood(conn, a) == records.DAMAGE["event_id"]
    media = {name: body for name, (_, body) in manifest_files(client, form.form_id).items()}
    spec = spec_for(form.xml)
    today = dt.date.today()
    answers, repeats = answers_for(spec, worker_answers(form.form_id, form.version, a, today))
    [filled] = step_through(engine, form.xml, media, [Run("complete", answers, repeats)], **DEVICE)

    refused = [e for e in filled["events"] if e.get("answered") and e["verdict"] != "ok"]
    assert refused == [] and "invalid" not in filled, (refused, filled.get("invalid"))
    unasked = set(answers) - {e["path"] for e in filled["events"]}
    assert unasked == set(), "the engine never showed these questions"

    iid = instance_id(filled["instance"])
    photographed = "house-1.jpg" in filled["instance"]  # Web Forms' engine is not given a camera here
    files = [("house-1.jpg", PHOTO)] if photographed else []
    resp = post(client, filled["instance"].encode(), *files)
    assert resp.status_code == 201, resp.data
    doc = conn.admin.get(names.village_db(a), f"submission:{iid}")
    assert (doc["household_id"], doc["submitted_by"]) == (f"{a}-0001", "gw_a")
    if "deviceid" in spec.fields:  # releases with metadata say which tablet filled it
        assert doc["device_id"] == "collect:Xk2LQ9" and doc["data"]["username"] == "gw_a"
    assert len(doc["data"].get("members", [])) == len(records.DATA[form.form_id].get("members", []))
    Worker(conn.admin).sweep()  # today's date, as the engine's
    review = conn.admin.get(names.village_db(a), f"review:{iid}")
    assert [i for i in review["issues"] if i["severity"] == "error"] == []
    assert review["household"]["id"] == f"{a}-0001"


def instance_id(xml: str) -> str:
    return etree.fromstring(xml.encode()).findtext("meta/instanceID").removeprefix("uuid:")


# Each in-form check and a value a worker might enter that it must refuse. Dates are relative to
# the day the test runs (the engine's today()); ``{other}`` is another village's household; ``with``
# changes other answers first.
REFUSED = """
| form | question | value | engine | why | with |
| damage_survey | village_code | {other_village} | not offered | another village's code is not in the list |  |
| damage_survey | household_scan | fangpin:household:{other} | constraint | a door card from another village |  |
| damage_survey | survey_date | {tomorrow} | constraint | in the future |  |
| damage_survey | event_id | 500112104-2026-11-drought | not offered | an event of another village |  |
| damage_survey | disaster_date | 2026-11-17 | constraint | before the event began |  |
| damage_survey | disaster_date | {tomorrow} | constraint | after the survey |  |
| damage_survey | deaths | 51 | constraint | more than the bound |  |
| damage_survey | missing | -1 | constraint | negative |  |
| damage_survey | injured_serious | 51 | constraint | more than the bound |  |
| damage_survey | injured_minor | 51 | constraint | more than the bound |  |
| damage_survey | rooms_collapsed | 51 | constraint | more than the bound |  |
| damage_survey | rooms_severe | -1 | constraint | negative |  |
| damage_survey | rooms_minor | 0 | constraint | no room damaged in a damaged house | rooms_severe=0 |
| damage_survey | crop_affected_mu | 5 | constraint | more than the sown area (4.5) |  |
| damage_survey | crop_damaged_mu | 4.6 | constraint | more than the affected area |  |
| damage_survey | crop_lost_mu | 3.5 | constraint | more than the damaged area |  |
| damage_survey | livestock_pigs | 100001 | constraint | more than the bound |  |
| damage_survey | livestock_cattle | -1 | constraint | negative |  |
| damage_survey | livestock_sheep | 100001 | constraint | more than the bound |  |
| damage_survey | livestock_poultry | 100001 | constraint | more than the bound |  |
| damage_survey | livestock_other | 100001 | constraint | more than the bound |  |
| damage_survey | insurance | none house | constraint | "none" with an insurance |  |
| damage_survey | relief_received | none food | constraint | "none" with relief |  |
| damage_survey | crop_area_mu | 10000.5 | constraint | more than the bound |  |
| damage_survey | water_cut_days | 367 | constraint | more than a year |  |
| damage_survey | direct_loss_yuan | 10000001 | constraint | more than the bound |  |
| damage_survey | income_drop_pct | 101 | constraint | more than everything |  |
| damage_survey | urgent_needs | none food | constraint | "none" with a need |  |
| household_survey | village_code | {other_village} | not offered | another village's code is not in the list |  |
| household_survey | household_scan | fangpin:household:{other} | constraint | a door card from another village |  |
| household_survey | survey_date | {tomorrow} | constraint | in the future |  |
| household_survey | head_id_number | 110105194912310021 | constraint | wrong check digit |  |
| household_survey | phone | 12800138000 | constraint | not a mobile number |  |
| household_survey | members[2]/id_number | 11010519480101003 | constraint | 17 digits |  |
| household_survey | members[1]/sex | male | constraint | the ID says female |  |
| household_survey | members[1]/birth_date | 1950-01-01 | constraint | the ID says 1949-12-31 |  |
| household_survey | welfare | none dibao | constraint | "none" with an allowance |  |
| household_survey | members[3]/relation | spouse | constraint | the spouse has the head's sex | members[3]/id_number=999999201503010020 members[3]/sex=female |
| household_survey | members[2]/relation | head | at finalize | a second head (JavaRosa counts the stored ones) |  |
| household_survey | members[1]/health | healthy chronic | constraint | "healthy" with an illness |  |
| household_survey | members[2]/disability_grade | 5 | constraint | grades are 1-4 |  |
| household_survey | income_wage | 10000001 | constraint | more than the bound |  |
| household_survey | income_business | -1 | constraint | negative |  |
| household_survey | income_property | 10000001 | constraint | more than the bound |  |
| household_survey | income_transfer | 10000001 | constraint | more than the bound |  |
| household_survey | cost_business | -0.5 | constraint | negative |  |
| household_survey | expense_medical_oop | 10000001 | constraint | more than the bound |  |
| household_survey | expense_education | 10000001 | constraint | more than the bound |  |
| household_survey | last_year_income | 10000001 | constraint | more than the bound |  |
| household_survey | water_outage_days | 367 | constraint | more than a year |  |
"""


def refused_rows() -> list[dict[str, str]]:
    lines = [line.strip().strip("|").split("|") for line in REFUSED.strip().splitlines()]
    head = [cell.strip() for cell in lines[0]]
    return [dict(zip(head, (cell.strip() for cell in line), strict=True)) for line in lines[1:]]


def generic(path: str) -> str:
    """members[2]/sex -> members/sex: a path without its repeat positions."""
    return re.sub(r"\[\d+\]", "", path)


def question_path(spec, question: str) -> str:
    """members[2]/sex -> /data/members[2]/sex; income_wage -> /data/page_income/income_wage."""
    name, _, rest = question.partition("[")
    field = spec.fields[name if not rest else f"{name}/{rest.split('/', 1)[1]}"]
    if not rest:
        return f"/{spec.root}/{field.xml_path}"
    repeat = spec.fields[name]
    return f"/{spec.root}/{repeat.xml_path}[{rest.split(']')[0]}]{field.xml_path[len(repeat.xml_path) :]}"


@pytest.mark.parametrize("form", current_forms(), ids=lambda f: f.form_id)
def test_each_in_form_check_refuses_its_bad_value_in_each_engine_with_its_chinese_message(
    form, engine, client, conn, township
):
    a = township.a
    roster(conn, a, 3)
    roster(conn, township.b, 1)
    open_flood(conn, a)
    event_store.open_event(conn.admin, "500112104", "drought", dt.date(2026, 11, 1), [township.b], "clerk",
                           dt.date.today())  # fmt: skip
    media = {name: body for name, (_, body) in manifest_files(client, form.form_id).items()}
    spec = spec_for(form.xml)
    today = dt.date.today()
    tomorrow = (today + dt.timedelta(days=1)).isoformat()
    values = {"other": f"{township.b}-0001", "other_village": township.b, "tomorrow": tomorrow}
    rows = [r for r in refused_rows() if r["form"] == form.form_id]
    answers, repeats = answers_for(spec, worker_answers(form.form_id, form.version, a, today))
    runs = []
    for row in rows:
        path = question_path(spec, row["question"])
        assert path in answers or spec.fields[row["question"].split("[")[0]].kind != "repeat"
        also = dict(pair.split("=") for pair in row["with"].split()) if row["with"] else {}
        changed = {question_path(spec, q): v for q, v in also.items()} | {path: row["value"].format(**values)}
        runs.append(Run(row["question"], {**answers, **changed}, repeats))
    results = step_through(engine, form.xml, media, runs, **DEVICE)

    for row, result in zip(rows, results, strict=True):
        path = question_path(spec, row["question"])
        shown = [e for e in result["events"] if e["path"] == path]
        assert len(shown) == 1, (row, [e["path"] for e in result["events"]])
        [event] = shown
        if row["engine"] == "not offered":  # a list question: the choice is not there to tap
            assert event["verdict"] == "no_such_choice" and event.get("after") is None, row["why"]
            continue
        field = spec.fields[generic(row["question"])]
        message = field.constraint_msg["zh"]
        assert re.search(r"[\u4e00-\u9fff]", message)
        stopped = [v for v in result.get("violations") or [result.get("invalid") or {}] if v.get("message") == message]
        if row["engine"] == "at finalize" and engine is not None:  # JavaRosa: Collect will not finalise
            invalid = result["invalid"]  # the first of the heads: each is one too many
            assert event["verdict"] == "ok" and generic(invalid["path"]) == generic(path)
            assert (invalid["outcome"], invalid["message"]) == ("constraint", message), row["why"]
            continue
        assert (row["question"], event["verdict"], event.get("message")) == (row["question"], "constraint", message), (
            row["why"]
        )
        if engine is not None:  # JavaRosa refuses the value: the worker must change it
            assert event["after"] != row["value"].format(**values)
        else:  # Web Forms keeps what was typed, marked, and will not submit the form
            heads = row["engine"] == "at finalize"  # both heads are one too many
            assert path in [v["path"] for v in stopped] if heads else [v["path"] for v in stopped] == [path], row["why"]
    # every check the form has is in the table
    checked = {q for r in rows if spec.fields[q := generic(r["question"])].constraint}
    constrained = {f.path for f in spec.fields.values() if f.constraint}
    assert constrained == checked, constrained ^ checked


TYPED_CONTROLS = {1, 4}  # JavaRosa's CONTROL_INPUT and CONTROL_TEXTAREA
TYPED_DATA = {1, 2, 3, 4, 13}  # text, integer, decimal, date, long: what a worker types on the keyboard


def typed(result: dict, answers: dict[str, str]) -> list[str]:
    """The questions a worker types: a keyboard question whose answer the form did not already hold."""
    return [
        e["path"]
        for e in result["events"]
        if e["control"] in TYPED_CONTROLS and e["datatype"] in TYPED_DATA and not e["readonly"]
        and e["path"] in answers and not same(e["before"], answers[e["path"]])
    ]  # fmt: skip


def same(shown: str | None, wanted: str) -> bool:
    """The engine writes a decimal 12000 as 12000.0."""
    try:
        return shown is not None and float(shown) == float(wanted)
    except ValueError:
        return shown == wanted


def test_a_known_households_survey_is_prefilled_and_only_what_changed_is_typed(javarosa, client, conn, township):
    """The worker's path: the household picked from the list (or scanned), the form shows what its
    record knows for confirmation; counted against the first release, where everything was typed."""
    a, hid = township.a, f"{township.a}-0001"
    roster(conn, a, 3)
    today = dt.date.today()
    earlier = worker_answers("household_survey", records.VERSION, a, today)  # last month's survey, processed
    first = post(client, records_instance("household_survey", earlier))
    assert first.status_code == 201, first.data
    Worker(conn.admin).sweep()
    version = conn.admin.get(names.CASES, f"household:{hid}")["version"]
    media = {name: body for name, (_, body) in manifest_files(client, "household_survey").items()}

    counts = {}
    for form in (
        f for f in shipped_forms() if f.form_id == "household_survey" and f.version in (records.V1, records.VERSION)
    ):
        spec = spec_for(form.xml)
        answers, repeats = answers_for(spec, worker_answers("household_survey", form.version, a, today))
        if "known_phone" in spec.fields:  # what the record knows but a device never gets is left empty
            unchanged = {"phone", "head_id_number", "id_number"}  # the members' too
            answers = {p: v for p, v in answers.items() if p.rsplit("/", 1)[-1] not in unchanged}
        [result] = step_through(javarosa, form.xml, media, [Run("revisit", answers, repeats)], **DEVICE)
        assert "invalid" not in result
        counts[form.version] = typed(result, answers)
        if form.version == records.VERSION:
            shown = {e["path"].rsplit("/", 1)[-1]: e["before"] for e in result["events"]}
            assert shown["head_name"] == "王秀英" and same(shown["income_wage"], "12000")  # from the record
            assert shown["surveyor"] == "gw_a" and shown["survey_date"] == today.isoformat()
            iid = instance_id(result["instance"])
            assert post(client, result["instance"].encode()).status_code == 201
            doc = conn.admin.get(names.village_db(a), f"submission:{iid}")
            assert doc["household_base_version"] == version >= 1  # the merge knows what the worker saw
            Worker(conn.admin).sweep()
            review = conn.admin.get(names.village_db(a), f"review:{iid}")
            assert [i for i in review["issues"] if i["severity"] == "error"] == []
            record = conn.admin.get(names.CASES, f"household:{hid}")["properties"]
            assert record["head_id_number"] == records.HEAD_ID and record["phone"] == "13800138000"
            assert [m.get("id_number") for m in record["members"]] == [m["id_number"] for m in earlier["members"]]

    before, after = len(counts[records.V1]), len(counts[records.VERSION])
    print(f"typed questions, household survey of a known household: {before} -> {after}", counts[records.VERSION])
    assert after < before
    prefilled = {"head_name", "phone", "head_id_number", "id_number", "name", "birth_date", "income_wage", "income_business", "income_property", "income_transfer",
                 "cost_business", "expense_medical_oop", "expense_education", "last_year_income", "water_outage_days",
                 "surveyor", "survey_date", "village_code", "household_id"}  # fmt: skip
    assert not {p.rsplit("/", 1)[-1] for p in counts[records.VERSION]} & prefilled, counts[records.VERSION]


def records_instance(form_id: str, data: dict) -> bytes:
    from test_openrosa import instance_xml

    return instance_xml(form_id, data, f"uuid:{uuid.uuid4()}")


def test_a_casualty_is_picked_from_the_households_own_members_in_each_engine(engine, client, conn, township):
    a, hid = township.a, f"{township.a}-0001"
    roster(conn, a, 3)
    roster(conn, township.b, 1)
    open_flood(conn, a)
    today = dt.date.today()
    household = worker_answers("household_survey", records.VERSION, a, today)  # its members on record
    assert post(client, records_instance("household_survey", household)).status_code == 201
    other = worker_answers("household_survey", records.VERSION, a, today)
    other.update(household_id=f"{a}-0002", household_pick=f"{a}-0002", head_id_number=records.make_id("19700101", 5))
    other["members"] = [{**other["members"][0], "name": "别家人", "id_number": other["head_id_number"],
                         "birth_date": "1970-01-01", "sex": "male"}]  # fmt: skip
    assert post(client, records_instance("household_survey", other)).status_code == 201
    Worker(conn.admin).sweep()
    media = {name: body for name, (_, body) in manifest_files(client, "damage_survey").items()}
    form = next(f for f in current_forms() if f.form_id == "damage_survey")
    spec = spec_for(form.xml)
    answers, repeats = answers_for(spec, worker_answers("damage_survey", form.version, a, today))
    member = "/data/casualties[1]/member"
    runs = [
        Run("own", {**answers, member: f"{hid}#2"}, repeats),
        Run("another's", {**answers, member: f"{a}-0002#1"}, repeats),
    ]
    own, another = step_through(engine, form.xml, media, runs, **DEVICE)
    [picked] = [e for e in own["events"] if e["path"] == member]
    assert picked["verdict"] == "ok" and picked["after"] == f"{hid}#2" and "invalid" not in own
    assert not [e for e in own["events"] if e["path"] == "/data/casualties[1]/name"]  # picked: no name asked
    [refused] = [e for e in another["events"] if e["path"] == member]
    assert refused["verdict"] == "no_such_choice"  # another household's member is not in this household's list
    iid = instance_id(own["instance"])
    assert post(client, own["instance"].encode()).status_code == 201
    Worker(conn.admin).sweep()
    doc = conn.admin.get(names.village_db(a), f"submission:{iid}")
    assert doc["data"]["casualties"] == [
        {"member": f"{hid}#2", "outcome": "injured_serious", "labour_before": "normal"}
    ]
    review = conn.admin.get(names.village_db(a), f"review:{iid}")
    assert [i for i in review["issues"] if i["severity"] == "error"] == []
