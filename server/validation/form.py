"""A submission's ``data`` checked against its form: types (marshmallow), then the form's own logic.

The second pass builds the XForm instance from the typed values and evaluates the form's
``calculate``, ``relevant``, ``required`` and ``constraint`` expressions with lxml, in document order
and per repeat instance, as ODK Collect would have on the device:

* calculations are redone on the server (a tablet's value is not trusted);
* a field is relevant when its own expression and every enclosing group's are true; a value in a
  non-relevant field is a warning and is blanked before anything else reads it;
* a required field is required only while relevant;
* a constraint is checked only on a relevant, non-empty value, and fails with the form's message.

Fields whose value already failed its type check are skipped here: one problem, one issue.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Any

from lxml import etree
from marshmallow import ValidationError

from forms.spec import Field, FormSpec
from server.validation import WARNING, issue
from server.validation.schema import PROBLEM, schema_for
from server.validation.xpath import date_days, datetime_days, evaluate, evaluation_day, to_bool, to_string

CONTAINERS = ("group", "repeat", "page", "calculate")  # nothing of their own to require or constrain


@dataclass
class Node:
    field: Field
    element: etree._Element
    path: str  # concrete, with 1-based repeat positions: members[2]/name
    value: Any  # typed value (None when empty)


@dataclass
class Instance:
    root: etree._Element
    nodes: list[Node] = field(default_factory=list)


def concrete(prefix: str, name: str) -> str:
    return f"{prefix}/{name}" if prefix else name


def xpath_text(kind: str, value: Any) -> str:
    """The text a value has in the evaluation instance (dates as day numbers, see xpath.py)."""
    if value is None:
        return ""
    if kind == "date":
        return to_string(date_days(value))
    if kind == "dateTime":
        return to_string(datetime_days(value))
    if kind == "decimal":
        return to_string(float(value))
    return str(value)


def build_instance(spec: FormSpec, data: dict) -> Instance:
    """The XForm instance of ``data``: pages put back around their fields, repeats per item."""
    root = etree.Element(spec.root)
    instance = Instance(root)

    def fill(parent_el: etree._Element, xml_parent: str, values: dict, where: str) -> None:
        for f in spec.xml_children(xml_parent):
            if f.kind == "page":  # its fields are the data's siblings
                el = etree.SubElement(parent_el, f.name)
                instance.nodes.append(Node(f, el, concrete(where, f.name), None))
                fill(el, f.xml_path, values, where)
                continue
            value = values.get(f.name) if isinstance(values, dict) else None
            if f.kind == "repeat":
                for i, item in enumerate(value or [], start=1):
                    el = etree.SubElement(parent_el, f.name)
                    here = f"{concrete(where, f.name)}[{i}]"
                    instance.nodes.append(Node(f, el, here, item))
                    fill(el, f.xml_path, item if isinstance(item, dict) else {}, here)
            elif f.kind == "group":
                el = etree.SubElement(parent_el, f.name)
                here = concrete(where, f.name)
                instance.nodes.append(Node(f, el, here, value))
                fill(el, f.xml_path, value if isinstance(value, dict) else {}, here)
            else:
                el = etree.SubElement(parent_el, f.name)
                el.text = xpath_text(f.kind, value)
                instance.nodes.append(Node(f, el, concrete(where, f.name), value))

    fill(root, "", data, "")
    return instance


def type_issues(messages: Any, prefix: str = "") -> list[dict]:
    """Marshmallow's nested error messages → issues with concrete paths.

    A field's own error is the ``{PROBLEM: (code, value)}`` dict raised by the schema's field classes
    (alone, or in a list for schema-level errors such as unknown fields); any other dict is nesting
    by field name or repeat position.
    """
    if isinstance(messages, dict) and PROBLEM in messages:
        code, value = messages[PROBLEM]
        if code == "group.not_object" and prefix.endswith("]"):
            code = "repeat.item_not_object"  # a repeat item that is not an object
        return [issue(code, prefix, value)]
    if isinstance(messages, list):
        return [found for message in messages for found in type_issues(message, prefix)]
    out: list[dict] = []
    if isinstance(messages, dict):
        for key, nested in messages.items():
            if key == "_schema":  # marshmallow's key for errors of the container itself
                path = prefix
            elif isinstance(key, int):
                path = f"{prefix}[{key + 1}]"
            else:
                path = concrete(prefix, str(key))
            out.extend(type_issues(nested, path))
    return out


def original(value: Any) -> Any:
    """Values as the device sent them, for the issue's ``value``."""
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _eval(expression: str, node: Node, issues: list[dict], what: str) -> Any:
    try:
        return evaluate(expression, node.element)
    except Exception as exc:  # a broken form expression (XPath or arity error) must not stop validation
        issues.append(issue("expression.error", node.path, expression, severity=WARNING, what=what, reason=str(exc)))
        return None


def validate_data(data: Any, spec: FormSpec, day: dt.date) -> tuple[list[dict], dict]:
    """Issues of ``data`` against ``spec``, and the typed data (for the domain rules)."""
    if not isinstance(data, dict):
        return [issue("envelope.type", "data", None, expected_zh="对象", expected_en="an object")], {}
    try:
        clean = schema_for(spec).load(data)
        issues: list[dict] = []
    except ValidationError as exc:
        clean = exc.valid_data if isinstance(exc.valid_data, dict) else {}
        issues = type_issues(exc.messages)
    broken = {i["path"] for i in issues}
    with evaluation_day(day):
        instance = build_instance(spec, clean)
        for node in instance.nodes:  # calculations first: relevance may depend on them (age)
            if node.field.calculate:
                result = _eval(node.field.calculate, node, issues, "calculate")
                node.element.text = "" if result is None else _calc_text(result)
        relevant: dict[etree._Element, bool] = {instance.root: True}
        for node in instance.nodes:
            f = node.field
            parent_ok = relevant.get(node.element.getparent(), True)
            own = to_bool(_eval(f.relevant, node, issues, "relevant")) if f.relevant and parent_ok else parent_ok
            relevant[node.element] = own
            if not own and f.kind not in CONTAINERS and node.value is not None:
                issues.append(issue("relevant.value_ignored", node.path, original(node.value), severity=WARNING))
                node.element.text = ""
        for node in instance.nodes:
            if node.field.calculate and relevant[node.element]:
                _fill_calculated(clean, node)
        for node in instance.nodes:
            f = node.field
            if not relevant[node.element] or node.path in broken or f.kind in CONTAINERS:
                continue
            empty = node.value is None
            if empty and f.required and to_bool(_eval(f.required, node, issues, "required")):
                issues.append(issue("required.missing", node.path))
            if not empty and f.constraint and not to_bool(_eval(f.constraint, node, issues, "constraint")):
                messages = f.constraint_msg or {}
                issues.append(
                    issue(
                        "constraint.failed",
                        node.path,
                        original(node.value),
                        form_zh=messages.get("zh") or messages.get("en") or f.constraint,
                        form_en=messages.get("en") or messages.get("zh") or f.constraint,
                    )
                )
    return issues, clean


def _fill_calculated(clean: dict, node: Node) -> None:
    """A top-level calculation the device did not send (a total such as ``livestock_lost``) is
    worked out here from the answers, so the domain rules see what the form would have written;
    a value the device sent is kept (and checked like any answer)."""
    f = node.field
    if f.repeat is not None or f.path in clean or not node.element.text:
        return
    text = node.element.text
    try:
        number = float(text)
    except ValueError:
        clean[f.path] = text
        return
    if math.isfinite(number):
        clean[f.path] = int(number) if number.is_integer() else number


def _calc_text(result: Any) -> str:
    if isinstance(result, float) and math.isnan(result):
        return ""
    return to_string(result)
