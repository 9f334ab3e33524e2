"""Pages (``field-list`` groups) shape the XForm instance, never the data: the data keeps the
contract's flat field names, and the form's expressions still see the instance the device saw."""

from __future__ import annotations

from forms import build
from forms.instance import read
from forms.spec import spec_for
from server.validation.form import validate_data

PAGED = """
| survey |
|  | type | name | label::Chinese (zh) | label::English (en) | required | constraint | relevant | appearance |
|  | select_one yn | consent | 同意 | Consent | yes |
|  | begin_group | household | 户 | Household |  |  | ${consent} = 'yes' | field-list |
|  | integer | rooms | 间数 | Rooms | yes | . <= ${size} * 4 |
|  | integer | size | 人数 | Size | yes |
|  | begin_repeat | members | 成员 | Members |  |  |  | field-list |
|  | text | name | 姓名 | Name | yes |
|  | integer | age | 年龄 | Age |  | . < 130 |
|  | end_repeat |
|  | end_group |
|  | begin_group | water | 水 | Water |  |  |  | field-list |
|  | integer | outage | 断水 | Outage |  | . <= 365 and ${rooms} >= 0 |
|  | end_group |
| choices |
|  | list_name | name | label::Chinese (zh) | label::English (en) |
|  | yn | yes | 是 | Yes |
|  | yn | no | 否 | No |
| settings |
|  | form_id | version |
|  | paged | 2026120101 |
"""


def spec():
    return spec_for(build(PAGED.encode(), file_type=".md"))


def codes(data: dict) -> list[tuple[str, str]]:
    import datetime as dt

    issues, _ = validate_data(data, spec(), dt.date(2026, 12, 1))
    return sorted((i["path"], i["code"]) for i in issues)


def test_the_data_of_a_paged_form_keeps_flat_field_names():
    s = spec()
    assert list(s.fields) == ["consent", "rooms", "size", "members", "members/name", "members/age", "outage"]
    assert s.fields["members/name"].xml_path == "household/members/name" and s.fields["consent"].xml_path == "consent"
    assert set(s.pages) == {"household", "water"} and s.pages["household"].relevant


def test_expressions_across_pages_and_a_pages_relevance_are_evaluated_on_the_instance():
    good = {"consent": "yes", "rooms": 4, "size": 2, "members": [{"name": "王", "age": 40}], "outage": 3}
    assert codes(good) == []
    assert codes({**good, "rooms": 9}) == [("rooms", "constraint.failed")]  # . <= ${size} * 4, another field
    assert codes({**good, "members": [{"age": 200}]}) == [("members[1]/age", "constraint.failed"),
                                                          ("members[1]/name", "required.missing")]  # fmt: skip
    # consent no: the whole household page is not relevant, so nothing in it is required
    assert codes({"consent": "no"}) == []
    assert codes({"consent": "no", "rooms": 3}) == [("rooms", "relevant.value_ignored")]


def test_an_instance_with_pages_reads_as_flat_data():
    xml = b"""<paged id="paged" version="2026120101"><consent>yes</consent>
      <household><rooms>4</rooms><size>2</size><members><name>\xe7\x8e\x8b</name><age>40</age></members>
      <members><name>\xe6\x9d\x8e</name></members></household><water><outage>3</outage></water>
      <meta><instanceID>uuid:6f1c2a4e-0b1d-4c8e-9f00-1a2b3c4d5e6f</instanceID></meta></paged>"""
    data = read(xml, spec()).data
    assert data == {"consent": "yes", "rooms": 4, "size": 2, "members": [{"name": "王", "age": 40}, {"name": "李"}],
                    "outage": 3}  # fmt: skip
    assert codes(data) == []


def test_stray_elements_never_break_reading_nor_overwrite_an_answer():
    xml = b"""<paged id="paged" version="2026120101"><members>stray</members><rooms>99</rooms>
      <household><rooms>4</rooms><size>2</size><members><name>w</name></members><members>
      <name>l</name></members><rooms>7</rooms></household><extra>x</extra>
      <meta><instanceID>uuid:6f1c2a4e-0b1d-4c8e-9f00-1a2b3c4d5e6f</instanceID></meta></paged>"""
    data = read(xml, spec()).data
    assert data["members"] == [{"name": "w"}, {"name": "l"}] and data["extra"] == "x"
    assert data["rooms"] in (4, 7) and data["rooms"] != 99  # the page's answer, not the stray root element
