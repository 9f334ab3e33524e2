"""OpenRosa 1.0 conformance (real CouchDB, Flask test client): the form list against the
xformsList schema, forms and manifests, HEAD/POST /submission with a photo, idempotent and
conflicting resubmissions, split submissions, edits, refusals; and ODK Validate on every XForm."""

from __future__ import annotations

import copy
import hashlib
import io
import uuid

import pytest
import records
from conftest import PASSWORD, wait_for
from lxml import etree
from test_household_worker import record, roster, run

from forms import current_forms, shipped_forms
from server.pipeline.readmodel import PREFILL
from sync import names

HEADERS = {"X-OpenRosa-Version": "1.0"}
FIELD = ("gw_a", PASSWORD)
NS = {"x": "http://openrosa.org/xforms/xformsList"}

# The OpenRosa form list (https://docs.getodk.org/openrosa-form-list/) as an XML Schema: the
# elements ODK Collect reads, in order, with the hash as "md5:" + 32 hex digits.
FORM_LIST_XSD = b"""<?xml version="1.0"?>
<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="http://openrosa.org/xforms/xformsList"
           xmlns="http://openrosa.org/xforms/xformsList" elementFormDefault="qualified">
  <xs:element name="xforms"><xs:complexType><xs:sequence>
    <xs:element name="xform" minOccurs="0" maxOccurs="unbounded"><xs:complexType><xs:sequence>
      <xs:element name="formID" type="xs:string"/>
      <xs:element name="name" type="xs:string"/>
      <xs:element name="version" type="xs:string"/>
      <xs:element name="hash"><xs:simpleType><xs:restriction base="xs:string">
        <xs:pattern value="md5:[0-9a-f]{32}"/></xs:restriction></xs:simpleType></xs:element>
      <xs:element name="descriptionText" type="xs:string" minOccurs="0"/>
      <xs:element name="downloadUrl" type="xs:anyURI"/>
      <xs:element name="manifestUrl" type="xs:anyURI" minOccurs="0"/>
    </xs:sequence></xs:complexType></xs:element>
  </xs:sequence></xs:complexType></xs:element>
</xs:schema>"""


def instance_xml(form_id: str, data: dict, instance_id: str, version: str = records.VERSION, **meta: str) -> bytes:
    """The XML ODK Collect would send for ``data`` (the tablet's shape: each field inside its page)."""
    from forms import shipped_forms
    from forms.spec import spec_for

    spec = next((spec_for(f.xml) for f in shipped_forms() if (f.form_id, f.version) == (form_id, version)), None)
    root = etree.Element("data", id=form_id, version=version)

    def fill(parent, values: dict, xml_parent: str) -> None:
        for f in spec.xml_children(xml_parent) if spec else []:
            if f.kind == "page":
                fill(etree.SubElement(parent, f.name), values, f.xml_path)
            elif f.name in values:
                for item in values[f.name] if f.kind == "repeat" else [values[f.name]]:
                    el = etree.SubElement(parent, f.name)
                    if isinstance(item, dict):
                        fill(el, item, f.xml_path)
                        unknown(el, item)
                    else:
                        el.text = str(item)

    def unknown(parent, values: dict) -> None:
        """What the form does not know, as sent (at the level it was given)."""
        known = {f.name for f in spec.fields.values()} if spec else set()
        for key, value in values.items():
            if key not in known:
                for item in value if isinstance(value, list) else [value]:
                    el = etree.SubElement(parent, key)
                    el.text = None if isinstance(item, dict) else str(item)

    fill(root, data, "")
    unknown(root, data)
    meta_el = etree.SubElement(root, "meta")
    for key, value in {"instanceID": instance_id, **meta}.items():
        etree.SubElement(meta_el, key).text = value
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def post(client, xml: bytes, *files: tuple[str, bytes], auth=FIELD, headers=HEADERS):
    data = {"xml_submission_file": (io.BytesIO(xml), "submission.xml", "text/xml")}
    for n, (name, body) in enumerate(files):
        data[f"photo{n}"] = (io.BytesIO(body), name, "image/jpeg")
    return client.post("/submission", data=data, auth=auth, headers=headers, content_type="multipart/form-data")


def damage(village: str, version: str = records.VERSION, **changes) -> dict:
    """A damage survey's answers as ``version`` of the form collects them."""
    data = copy.deepcopy(records.DAMAGE)
    data.update(village_code=village, household_id=f"{village}-0001", **changes)
    return records.picked(data, version)


def test_form_list_matches_the_schema_and_every_url_answers(client, conn, township):
    assert client.get("/formList").status_code == 400  # no X-OpenRosa-Version
    anonymous = client.get("/formList", headers=HEADERS)
    assert anonymous.status_code == 401 and anonymous.headers["WWW-Authenticate"].startswith("Basic")
    resp = client.get("/formList", headers=HEADERS, auth=FIELD)
    assert resp.status_code == 200 and resp.headers["X-OpenRosa-Version"] == "1.0" and resp.mimetype == "text/xml"
    doc = etree.fromstring(resp.data)
    etree.XMLSchema(etree.fromstring(FORM_LIST_XSD)).assertValid(doc)
    listed = {x.findtext("x:formID", namespaces=NS): x for x in doc.findall("x:xform", NS)}
    assert set(listed) == {"damage_survey", "household_survey"}
    for form in current_forms():  # the list offers the newest version of each form
        item = listed[form.form_id]
        assert item.findtext("x:version", namespaces=NS) == form.version
        xml = client.get(item.findtext("x:downloadUrl", namespaces=NS), headers=HEADERS, auth=FIELD).data
        assert item.findtext("x:hash", namespaces=NS) == "md5:" + hashlib.md5(xml).hexdigest() == form.md5
        manifest = client.get(item.findtext("x:manifestUrl", namespaces=NS), headers=HEADERS, auth=FIELD)
        assert etree.QName(etree.fromstring(manifest.data)).namespace == "http://openrosa.org/xforms/xformsManifest"
    one = etree.fromstring(client.get("/formList?formID=damage_survey", headers=HEADERS, auth=FIELD).data)
    assert [x.findtext("x:formID", namespaces=NS) for x in one] == ["damage_survey"]
    head = client.head("/submission", headers=HEADERS, auth=FIELD)
    assert head.status_code == 204 and int(head.headers["X-OpenRosa-Accept-Content-Length"]) > 1_000_000


def test_a_submission_with_a_photo_becomes_the_tablets_document_and_is_processed(client, conn, township):
    a = township.a
    roster(conn, a, 1)
    iid = f"uuid:{uuid.uuid4()}"
    photo = b"\xff\xd8\xff\xe0" + b"flooded-house" * 20 + b"\xff\xd9"
    resp = post(client, instance_xml("damage_survey", damage(a), iid, deviceID="collect:abc"), ("house-1.jpg", photo))
    assert resp.status_code == 201, resp.data
    assert b'nature="submit_success"' in resp.data and resp.headers["X-OpenRosa-Version"] == "1.0"
    doc = conn.admin.get(names.village_db(a), f"submission:{iid[5:]}")
    assert doc["data"] == damage(a)  # the same shape and types a PouchDB tablet writes
    assert doc["form_id"] == "damage_survey" and doc["submitted_by"] == "gw_a" and doc["device_id"] == "collect:abc"
    assert conn.admin.get_attachment(names.village_db(a), doc["_id"], "house-1.jpg") == photo
    run(conn)
    review = conn.admin.get(names.village_db(a), f"review:{iid[5:]}")
    assert review["state"] == "received" and review["household"]["id"] == f"{a}-0001"
    assert record(conn, f"{a}-0001")["tier"]["tier"] == "high"
    # the household survey's repeat comes out as an array of typed members
    hid = f"{a}-0001"
    household = copy.deepcopy(records.HOUSEHOLD_SURVEY)
    household.update(village_code=a, household_id=hid)
    iid2 = f"uuid:{uuid.uuid4()}"
    assert post(client, instance_xml("household_survey", household, iid2)).status_code == 201
    answered = {k: v for k, v in household.items() if v != ""}  # an empty element is an unanswered question
    assert conn.admin.get(names.village_db(a), f"submission:{iid2[5:]}")["data"] == answered


def test_resubmissions_are_idempotent_conflicts_are_409_and_split_parts_add_photos(client, conn, township):
    a = township.a
    iid = f"uuid:{uuid.uuid4()}"
    xml = instance_xml("damage_survey", damage(a), iid)
    assert post(client, xml, ("house-1.jpg", b"one")).status_code == 201
    db, doc_id = names.village_db(a), f"submission:{iid[5:]}"
    rev = conn.admin.get(db, doc_id)["_rev"]
    assert post(client, xml, ("house-1.jpg", b"one")).status_code == 201  # the same again: nothing new
    assert conn.admin.get(db, doc_id)["_rev"] == rev
    other = post(client, instance_xml("damage_survey", damage(a, deaths=1), iid))
    assert other.status_code == 409 and "instanceID" in other.data.decode()
    assert post(client, xml, ("house-2.jpg", b"two")).status_code == 201  # Collect's next part of a split POST
    assert set(conn.admin.get(db, doc_id)["_attachments"]) == {"house-1.jpg", "house-2.jpg"}
    assert post(client, xml, ("house-2.jpg", b"changed")).status_code == 409
    # an edit in Collect: a new instanceID naming the old one as deprecated → a new revision
    edited = instance_xml("damage_survey", damage(a, rooms_damaged=1), f"uuid:{uuid.uuid4()}", deprecatedID=iid)
    assert post(client, edited).status_code == 201
    after = conn.admin.get(db, doc_id)
    assert after["data"]["rooms_damaged"] == 1 and after["_rev"].startswith("3-")
    assert set(after["_attachments"]) == {"house-1.jpg", "house-2.jpg"}  # the photos stay


def test_refusals_say_what_is_wrong_in_both_languages(client, conn, township):
    a = township.a
    xml = instance_xml("damage_survey", damage(a), f"uuid:{uuid.uuid4()}")
    cases = [
        (post(client, xml, headers={}), 400, "X-OpenRosa-Version"),
        (client.post("/submission", headers=HEADERS, auth=FIELD, data={}), 400, "xml_submission_file"),
        (post(client, b"<data id='damage_survey'><unclosed></data>"), 400, "XML"),
        (post(client, instance_xml("damage_survey", damage(a), "not-a-uuid")), 400, "uuid"),
        (post(client, instance_xml("damage_survey", damage(township.b), f"uuid:{uuid.uuid4()}")), 403, township.b),
        (post(client, xml, auth=("clerk", PASSWORD)), 403, "field"),
        (post(client, xml, auth=("gw_a", "wrong-password")), 401, "incorrect"),
    ]
    for resp, status, says in cases:
        text = resp.data.decode()
        assert resp.status_code == status and says in text and " / " in text, (status, text)
        assert resp.headers["X-OpenRosa-Version"] == "1.0"
    assert not list(conn.admin.iter_prefix(names.village_db(a), "submission:"))  # nothing half-stored


def test_xml_entities_are_never_resolved(client, conn, township):
    a = township.a
    xml = instance_xml("damage_survey", damage(a, event_id="&secret;"), f"uuid:{uuid.uuid4()}").replace(
        b"&amp;secret;", b"&secret;"
    )
    evil = xml.replace(b"?>", b'?><!DOCTYPE data [<!ENTITY secret SYSTEM "file:///etc/passwd">]>', 1)
    resp = post(client, evil)
    stored = list(conn.admin.iter_prefix(names.village_db(a), "submission:"))
    assert resp.status_code in (201, 400)
    assert all("root:" not in str(d.get("data")) for d in stored)


@pytest.mark.slow
def test_odk_validate_accepts_every_built_xform(tmp_path):
    from pyxform.validators.odk_validate import check_xform

    for form in shipped_forms():
        path = tmp_path / f"{form.form_id}.xml"
        path.write_bytes(form.xml)
        check_xform(str(path))  # raises ODKValidateError with ODK Validate's own message


NEW_VERSION_MD = """
| survey   |           |               |                 |                |
|          | type      | name          | label::中文 (zh) | label::English (en) |
|          | text      | village_code  | 行政村代码        | Village code   |
|          | text      | household_id  | 户编号           | Household      |
|          | text      | surveyor      | 调查人           | Surveyor       |
|          | date      | survey_date   | 调查日期          | Survey date    |
|          | integer   | deaths        | 死亡人数          | Deaths         |
| settings |           |               |                 |                |
|          | form_id   | version       | default_language |               |
|          | damage_survey | {version} | 中文 (zh)        |                |
"""


def test_a_new_form_version_is_published_beside_the_old_and_an_old_version_string_is_refused(
    client, conn, township, settings, tmp_path
):
    from conftest import fangpin

    newer = tmp_path / "damage_v2.md"
    newer.write_text(NEW_VERSION_MD.format(version="2026120201"))
    out = fangpin(settings, "forms", "publish", str(newer))
    assert "published: form:damage_survey:2026120201" in out.stdout
    listed = etree.fromstring(client.get("/formList?formID=damage_survey", headers=HEADERS, auth=FIELD).data)
    assert listed.findtext("x:xform/x:version", namespaces=NS) == "2026120201"
    assert conn.admin.get(names.FORMS, f"form:damage_survey:{records.VERSION}")  # the old one stays
    # a survey of the old version still validates against the old version
    a = township.a
    iid = f"uuid:{uuid.uuid4()}"
    assert post(client, instance_xml("damage_survey", damage(a), iid)).status_code == 201
    run(conn)
    review = conn.admin.get(names.village_db(a), f"review:{iid[5:]}")
    assert review["state"] == "received" and review["issues"] == []
    older = tmp_path / "damage_old.md"
    older.write_text(NEW_VERSION_MD.format(version="2026120200"))
    refused = fangpin(settings, "forms", "publish", str(older), check=False)
    assert refused.returncode != 0 and "须大于已发布的最新版本 2026120201" in refused.stderr
    assert "must come after the newest published 2026120201" in refused.stderr


def test_a_collect_survey_keeps_when_and_on_which_device_it_was_filled_not_when_it_arrived(client, conn, township):
    a = township.a
    filled = damage(a, start="2026-11-25T09:02:11.481+08:00", end="2026-11-25T09:31:40.007+08:00",
                    deviceid="collect:Xk2LQ9", username="gw_a")  # fmt: skip
    iid = f"uuid:{uuid.uuid4()}"
    assert post(client, instance_xml("damage_survey", filled, iid)).status_code == 201
    doc = conn.admin.get(names.village_db(a), f"submission:{iid[5:]}")
    assert (doc["completed_at"], doc["started_at"], doc["device_id"]) == (
        "2026-11-25T09:31:40.007+08:00",
        "2026-11-25T09:02:11.481+08:00",
        "collect:Xk2LQ9",
    )
    assert doc["data"]["end"] == filled["end"]  # the metadata stays in the answers as sent
    # an older form without the metadata: the survey's own date, not the upload day
    iid = f"uuid:{uuid.uuid4()}"
    old_release = instance_xml("damage_survey", damage(a, records.V1), iid, version=records.V1)
    assert post(client, old_release).status_code == 201
    doc = conn.admin.get(names.village_db(a), f"submission:{iid[5:]}")
    assert doc["completed_at"] == "2026-11-20T12:00:00+08:00" and doc["form_version"] == records.V1


def manifest_files(client, form_id: str, auth=FIELD) -> dict[str, tuple[str, bytes]]:
    """name -> (md5 the manifest states, bytes the download gives)."""
    listed = etree.fromstring(client.get(f"/forms/{form_id}/manifest", headers=HEADERS, auth=auth).data)
    out = {}
    for item in listed.findall("m:mediaFile", {"m": "http://openrosa.org/xforms/xformsManifest"}):
        ns = {"m": "http://openrosa.org/xforms/xformsManifest"}
        body = client.get(item.findtext("m:downloadUrl", namespaces=ns), headers=HEADERS, auth=auth).data
        out[item.findtext("m:filename", namespaces=ns)] = (item.findtext("m:hash", namespaces=ns), body)
    return out


def test_form_media_are_made_per_user_from_the_servers_data_and_their_md5_follows_it(client, conn, township):
    import csv

    from server.pipeline import household_store

    roster(conn, township.a, 3)
    roster(conn, township.b, 2)
    files = manifest_files(client, "household_survey")
    assert set(files) == {"villages.csv", "households.csv", "household_members.csv", "events.csv"}
    for stated, body in files.values():  # what the manifest says is what Collect downloads
        assert stated == "md5:" + hashlib.md5(body).hexdigest()
    villages = list(csv.DictReader(io.StringIO(files["villages.csv"][1].decode())))
    assert villages == [{"name": township.a, "label": "石坪村"}]  # gw_a's own village only
    households = list(csv.DictReader(io.StringIO(files["households.csv"][1].decode())))
    assert [h["name"] for h in households] == [f"{township.a}-000{n}" for n in (1, 2, 3)]
    assert households[0] == {"name": f"{township.a}-0001", "label": "0001 王秀英", "village": township.a,
                             "number": "0001", "head_name": "王秀英", "version": "0", "category": "",
                             "phone_masked": "138****8000"} | dict.fromkeys(PREFILL, "")  # fmt: skip
    assert "11010519491231002X" not in files["households.csv"][1].decode()  # never an ID number
    assert "13800138000" not in files["households.csv"][1].decode()  # the phone only masked
    assert list(csv.DictReader(io.StringIO(files["household_members.csv"][1].decode()))) == []  # no members yet
    # another worker, another list; the township's clerk sees both villages
    other = manifest_files(client, "household_survey", auth=("gw_b", PASSWORD))
    assert township.a not in other["households.csv"][1].decode() and township.b in other["villages.csv"][1].decode()
    clerk = manifest_files(client, "damage_survey", auth=("clerk", PASSWORD))
    assert [row.split(",")[0] for row in clerk["villages.csv"][1].decode().splitlines()[1:]] == [township.a, township.b]
    # a new household in the village: that list's md5 changes, the other stays
    household_store.add_roster(conn.admin, township.a, {f"{township.a}-0009": {"head_name": "欧阳"}},
                               "2026-11-01T00:00:00Z")  # fmt: skip
    changed = wait_for(lambda: (m := manifest_files(client, "household_survey"))["households.csv"][0]
                       != files["households.csv"][0] and m, message="the list's md5 follows the data")  # fmt: skip
    assert (
        changed["villages.csv"][0] == files["villages.csv"][0] and "0009 欧阳" in changed["households.csv"][1].decode()
    )
    # a household with members on record: each member at its position, never an ID number or health
    household_store.add_roster(conn.admin, township.a, {f"{township.a}-0008": {"head_name": "赵一", "members": [
        {"name": "赵一", "sex": "male", "relation": "head", "birth_date": "1960-01-01", "id_number": records.SPOUSE_ID,
         "health": "serious", "labour": "weak"},
        {"name": "赵小", "sex": "female", "relation": "child", "birth_date": "2015-03-01", "school": "primary"}]}},
        "2026-11-01T00:00:00Z")  # fmt: skip
    listed = wait_for(lambda: [r for r in csv.DictReader(io.StringIO(
        manifest_files(client, "household_survey")["household_members.csv"][1].decode())) if r["n"]] or None,
        message="the members list follows the data")  # fmt: skip
    assert listed == [
        {"name": f"{township.a}-0008#1", "label": "赵一", "household": f"{township.a}-0008", "n": "1",
         "member_name": "赵一", "sex": "male", "relation": "head", "birth_date": "1960-01-01", "labour": "weak",
         "school": "", "medical_insurance": ""},
        {"name": f"{township.a}-0008#2", "label": "赵小", "household": f"{township.a}-0008", "n": "2",
         "member_name": "赵小", "sex": "female", "relation": "", "birth_date": "2015-03-01", "labour": "",
         "school": "primary", "medical_insurance": ""},  # "child" is the older list's: the worker picks 之子/之女
    ]  # fmt: skip
    assert records.SPOUSE_ID not in str(listed) and "serious" not in str(listed)
    assert client.get("/forms/household_survey/media/other.csv", headers=HEADERS, auth=FIELD).status_code == 404


def test_the_events_list_holds_the_open_events_of_the_users_villages_only(client, conn, township):
    import csv
    import datetime as dt

    from server.pipeline import event_store

    today = dt.date.today()
    flood, _ = event_store.open_event(conn.admin, "500112104", "flood", dt.date(2026, 11, 18), [], "clerk", today)
    hail, _ = event_store.open_event(conn.admin, "500112104", "hail_wind", dt.date(2026, 11, 20), [township.b],
                                     "clerk", today, name="风雹")  # fmt: skip
    event_store.open_event(conn.admin, "500112105", "flood", dt.date(2026, 11, 18), [], "clerk", today)

    def rows(auth=FIELD) -> tuple[str, list[dict]]:
        stated, body = manifest_files(client, "damage_survey", auth=auth)["events.csv"]
        return stated, list(csv.DictReader(io.StringIO(body.decode())))

    md5, listed = rows()
    assert listed == [{"name": flood["event_id"], "label": "2026-11-18 洪涝", "village": township.a,
                       "disaster_type": "flood", "start_date": "2026-11-18"}]  # fmt: skip
    clerk = [(r["name"], r["village"]) for r in rows(("clerk", PASSWORD))[1]]  # the clerk's township: both villages
    assert clerk == [(hail["event_id"], township.b), (flood["event_id"], township.a), (flood["event_id"], township.b)]
    event_store.close_event(conn.admin, flood["event_id"], "clerk")
    closed_md5, after = rows()
    assert after == [] and closed_md5 != md5  # Collect downloads the list again
