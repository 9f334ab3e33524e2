"""Marshmallow schemas generated from a form spec: structure and types of ``data``.

One schema class per container (the form, each group, each repeat item). Each field class accepts
what XForms allows for its type and fails with an issue code (``type.integer``, ``choice.unknown``
…) rather than prose, so that the caller can build stable, bilingual issues. Empty values ("" or
null) are not type errors: whether they are allowed is the XPath pass's business (required,
relevant).
"""

from __future__ import annotations

import math
import re
from functools import lru_cache
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields

from forms.spec import Field, FormSpec
from server.validation.xpath import parse_date, parse_datetime

_INT = re.compile(r"^[+-]?\d+\Z")
_DECIMAL = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)\Z")
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")  # not allowed in XML 1.0
_TIME = re.compile(r"^\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?\Z")


# Field errors are reported as ``{PROBLEM: (code, value)}``. The key is a tuple, which no JSON
# object can contain, so a device's own field called "code" can never pass for an error marker
# (marshmallow copies message dicts, so telling them apart by their class would not survive).
PROBLEM = ("fangpin", "problem")


def problem(code: str, value: Any = None) -> dict:
    return {PROBLEM: (code, value)}


def fail(code: str, value: Any) -> ValidationError:
    return ValidationError(problem(code, value))


class XValue(fields.Field):
    """Base: empty is None; anything else goes through ``parse``."""

    code = "type.text"

    def __init__(self, spec: Field, **kwargs: Any) -> None:
        super().__init__(allow_none=True, load_default=None, **kwargs)
        self.spec = spec

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if value is None or value == "":
            return None
        if isinstance(value, str) and _NOT_XML.search(value):
            raise fail("type.control_characters", value)
        return self.parse(value)

    def parse(self, value: Any) -> Any:
        if not isinstance(value, str):
            raise fail(self.code, value)
        return value


class XText(XValue):
    code = "type.text"


class XBinary(XValue):
    code = "type.binary"


class XInteger(XValue):
    code = "type.integer"

    def parse(self, value: Any) -> int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str) and _INT.match(value.strip()):
            return int(value)
        raise fail(self.code, value)


class XDecimal(XValue):
    code = "type.decimal"

    def parse(self, value: Any) -> float:
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            return float(value)
        if isinstance(value, str) and _DECIMAL.match(value.strip()):
            return float(value)
        raise fail(self.code, value)


class XDate(XValue):
    code = "type.date"

    def parse(self, value: Any) -> Any:
        parsed = parse_date(value) if isinstance(value, str) else None
        if parsed is None:
            raise fail(self.code, value)
        return parsed


class XDateTime(XValue):
    code = "type.datetime"

    def parse(self, value: Any) -> Any:
        parsed = parse_datetime(value) if isinstance(value, str) else None
        if parsed is None:
            raise fail(self.code, value)
        return parsed


class XTime(XValue):
    code = "type.time"

    def parse(self, value: Any) -> str:
        if not isinstance(value, str) or not _TIME.match(value):
            raise fail(self.code, value)
        return value


class XGeopoint(XValue):
    """``lat lon [altitude [accuracy]]``, space separated."""

    code = "type.geopoint"

    def parse(self, value: Any) -> str:
        parts = value.split() if isinstance(value, str) else []
        try:
            numbers = [float(p) for p in parts]
        except ValueError:
            numbers = []
        if (
            not 2 <= len(numbers) <= 4
            or not all(math.isfinite(n) for n in numbers)
            or not -90 <= numbers[0] <= 90
            or not -180 <= numbers[1] <= 180
            or (len(numbers) == 4 and numbers[3] < 0)
        ):
            raise fail(self.code, value)
        return value


class XSelectOne(XValue):
    code = "type.select_one"

    def parse(self, value: Any) -> str:
        if not isinstance(value, str):
            raise fail(self.code, value)
        if self.spec.choices and value not in self.spec.choice_values:
            raise fail("choice.unknown", value)
        return value


class XSelectMultiple(XValue):
    """XForms select_multiple: the chosen values, space separated, in one string."""

    code = "type.select_multiple"

    def parse(self, value: Any) -> str:
        if not isinstance(value, str):
            raise fail(self.code, value)
        chosen = value.split()
        unknown = [v for v in chosen if self.spec.choices and v not in self.spec.choice_values]
        if unknown:
            raise fail("choice.unknown", " ".join(unknown))
        return " ".join(chosen)


class XCalculate(XValue):
    """Calculated on the device and again on the server; any scalar is accepted."""

    def parse(self, value: Any) -> Any:
        if isinstance(value, (dict, list)):
            raise fail("type.calculate", value)
        return value


FIELD_CLASSES: dict[str, type[XValue]] = {
    "text": XText,
    "binary": XBinary,
    "integer": XInteger,
    "decimal": XDecimal,
    "date": XDate,
    "dateTime": XDateTime,
    "time": XTime,
    "geopoint": XGeopoint,
    "select_one": XSelectOne,
    "select_multiple": XSelectMultiple,
    "calculate": XCalculate,
}


class FormSchema(Schema):
    class Meta:
        unknown = RAISE

    error_messages = {"unknown": problem("field.unknown"), "type": problem("group.not_object")}  # noqa: RUF012


def _container(spec: FormSpec, parent: str, name: str) -> type[Schema]:
    members: dict[str, fields.Field] = {}
    for field in spec.children(parent):
        if field.kind == "repeat":
            item = _container(spec, field.path, f"{name}_{field.name}")
            members[field.name] = fields.List(
                fields.Nested(item, error_messages={"type": problem("repeat.item_not_object")}),
                allow_none=True,
                load_default=None,
                error_messages={"invalid": problem("repeat.not_list")},
            )
        elif field.kind == "group":
            members[field.name] = fields.Nested(
                _container(spec, field.path, f"{name}_{field.name}"),
                allow_none=True,
                load_default=None,
                error_messages={"type": problem("group.not_object")},
            )
        else:
            members[field.name] = FIELD_CLASSES[field.kind](field)
    return FormSchema.from_dict(members, name=name)


@lru_cache(maxsize=256)
def schema_for(spec: FormSpec) -> Schema:
    return _container(spec, "", f"{spec.form_id}_{spec.version}")()
