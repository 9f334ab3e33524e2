"""Every published form in a real XForm engine, filled as a grid worker fills it.

JavaRosa (ODK Collect's engine) steps through each form with the per-user media the server
makes; the instance the engine itself serialises goes to ``/submission`` and must come out of the
worker as a review without errors. Each in-form check is shown refusing a bad value with its
Chinese message, while the server keeps its own checks.
"""

from __future__ import annotations

import copy
import datetime as dt

import pytest
import records
from collect import Run, answers_for, compile_driver, step_through
from lxml import etree
from test_household_worker import roster
from test_openrosa import manifest_files, post

from forms import shipped_forms
from forms.spec import spec_for
from server.pipeline.worker import Worker
from sync import names

PHOTO = b"\xff\xd8\xff\xe0" + b"flooded-house" * 20 + b"\xff\xd9"
DEVICE = {"deviceid": "collect:Xk2LQ9", "username": "gw_a"}


@pytest.fixture(scope="session")
def javarosa(tmp_path_factory):
    return compile_driver(tmp_path_factory.mktemp("collect-driver"))


def worker_answers(form_id: str, version: str, village: str, today: dt.date) -> dict:
    """What a worker enters for household 0001 of ``village`` today, in this release's shape."""
    data = copy.deepcopy(records.DATA[form_id])
    data.update(village_code=village, household_id=f"{village}-0001", survey_date=today.isoformat())
    if form_id == "damage_survey":
        data["disaster_date"] = (today - dt.timedelta(days=2)).isoformat()
    return records.picked(data, version)


@pytest.mark.parametrize("form", shipped_forms(), ids=lambda f: f"{f.form_id}-{f.version}")
def test_every_published_form_filled_in_javarosa_is_a_review_without_errors(form, javarosa, client, conn, township):
    a = township.a
    roster(conn, a, 3)
    media = {name: body for name, (_, body) in manifest_files(client, form.form_id).items()}
    spec = spec_for(form.xml)
    today = dt.date.today()
    answers, repeats = answers_for(spec, worker_answers(form.form_id, form.version, a, today))
    [filled] = step_through(javarosa, form.xml, media, [Run("complete", answers, repeats)], **DEVICE)

    refused = [e for e in filled["events"] if e.get("answered") and e["verdict"] != "ok"]
    assert refused == [] and "invalid" not in filled, (refused, filled.get("invalid"))
    unasked = set(answers) - {e["path"] for e in filled["events"]}
    assert unasked == set(), "the engine never showed these questions"

    iid = instance_id(filled["instance"])
    files = [("house-1.jpg", PHOTO)] if form.form_id == "damage_survey" else []
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
