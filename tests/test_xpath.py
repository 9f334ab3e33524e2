"""ODK XPath functions on lxml, with expected results from the ODK XForms specification
(https://getodk.github.io/xforms-spec/#xpath-functions) and XPath 1.0 for the empty value."""

from __future__ import annotations

import datetime as dt
import math

import pytest
from lxml import etree

from server.validation.xpath import evaluate, evaluation_day

DOC = etree.fromstring(
    "<data><multi>a b c</multi><empty/><n>7</n><d>20777</d><text>Fangpin</text>"
    "<members><age>9</age><x/></members></data>"
)
DAY = dt.date(2026, 11, 22)  # 20779 days after 1970-01-01


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        # selected(space-separated list, value)
        ("selected(/data/multi, 'b')", True),
        ("selected(/data/multi, 'd')", False),
        ("selected(/data/empty, 'a')", False),
        # count-selected(list)
        ("count-selected(/data/multi)", 3.0),
        ("count-selected(/data/empty)", 0.0),
        # selected-at(list, 0-based index)
        ("selected-at(/data/multi, 1)", "b"),
        ("selected-at(/data/multi, 5)", ""),
        # regex(value, pattern): true when the value matches
        ("regex('13800138000', '^1[3-9][0-9]{9}$')", True),
        ("regex('12800138000', '^1[3-9][0-9]{9}$')", False),
        # if(condition, then, else)
        ("if(/data/n > 5, 'big', 'small')", "big"),
        ("if(/data/empty = '', 'none', 'some')", "none"),
        # coalesce(a, b): a unless empty
        ("coalesce(/data/empty, 'fallback')", "fallback"),
        ("coalesce(/data/text, 'fallback')", "Fangpin"),
        # int(number): truncates toward zero
        ("int(7.9)", 7.0),
        ("int(-7.9)", -7.0),
        # string-length (XPath 1.0), boolean-from-string, ends-with, substr, abs, pow, min, max
        ("string-length(/data/text)", 7.0),
        ("boolean-from-string('true')", True),
        ("boolean-from-string('1')", True),
        ("boolean-from-string('yes')", False),
        ("ends-with(/data/text, 'pin')", True),
        ("substr(/data/text, 0, 4)", "Fang"),
        ("abs(-3)", 3.0),
        ("pow(2, 10)", 1024.0),
        ("min(/data/n, 3)", 3.0),
        ("max(/data/n, 3)", 7.0),
        # today() and dates as days since 1970-01-01
        ("today()", 20779.0),
        ("decimal-date-time('1970-01-02')", 1.0),
        ("decimal-date-time('1970-01-01T12:00:00Z')", 0.5),
        ("date('2026-11-22') = today()", True),
        ("/data/d <= today()", True),
        ("/data/d > today()", False),
        # XPath 1.0 on empty values: '' compares as NaN, so every comparison is false
        ("/data/empty >= 18", False),
        ("/data/empty < 18", False),
        ("/data/empty = ''", True),
        ("not(/data/empty)", False),
    ],
)
def test_functions_follow_the_specification(expression, expected):
    with evaluation_day(DAY):
        assert evaluate(expression, DOC) == expected


def test_relative_references_inside_a_repeat():
    context = DOC.find("members/x")
    assert evaluate("../age >= 6 and ../age <= 15", context) is True


def test_nan_results():
    with evaluation_day(DAY):
        assert math.isnan(evaluate("int('abc')", DOC))
        assert math.isnan(evaluate("decimal-date-time('not a date')", DOC))


def test_a_broken_expression_raises_here_and_becomes_an_issue_in_validation():
    with pytest.raises((etree.XPathError, TypeError)):
        evaluate("selected(/data/multi,", DOC)
    from forms import XForm, build
    from forms.spec import compile_xform
    from server.validation.form import validate_data

    md = b"""
| survey   |         |      |         |                          |
|          | type    | name | label   | constraint               |
|          | integer | n    | N       | selected(., 'a', 'b', 1) |
| settings |         |      |
|          | form_id | version |
|          | broken  | 1       |
"""
    spec = compile_xform(XForm.parse(build(md, file_type=".md")).xml)
    issues, _ = validate_data({"n": 3}, spec, DAY)
    assert [(i["path"], i["code"], i["severity"]) for i in issues] == [("n", "expression.error", "warning")]


def test_once_keeps_the_value_the_node_already_has():
    doc = etree.fromstring(b"<data><id>new-kept</id><blank/></data>")
    assert evaluate("once(concat('new-', uuid()))", doc.find("id")) == "new-kept"
    # an empty node takes the new value (the server's uuid() is empty: validation stays deterministic)
    assert evaluate("once(concat('new-', uuid()))", doc.find("blank")) == "new-"
