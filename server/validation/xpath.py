"""ODK XPath on lxml's XPath 1.0 engine: the ODK functions forms use, registered as extensions.

lxml (libxml2) gives XPath 1.0's own semantics — including for empty values, where ``'' >= 18`` is
false as ODK expects — and the ODK XForms functions are added here as extension functions in the
default namespace, following the definitions in the ODK XForms specification.

Dates. ODK converts date and dateTime values to numbers (days since 1970-01-01) when they are
compared or used in arithmetic; plain XPath 1.0 would turn ``'2025-07-03'`` into NaN. So the
evaluation instance holds date and dateTime values as day numbers, and ``today()``, ``now()``,
``date()`` and ``decimal-date-time()`` return day numbers too. ``. <= today()`` then means what
the form author meant.

XPath 1.0 built-ins cannot be replaced by extensions (libxml2 resolves them first), so ODK's
two-argument ``round(x, digits)`` is not available; the shipped forms do not use it.

``today()`` reads a context variable so that validation is reproducible (tests, re-validation).
"""

from __future__ import annotations

import contextvars
import datetime as dt
import math
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

from lxml import etree

EPOCH = dt.date(1970, 1, 1)
_today: contextvars.ContextVar[dt.date | None] = contextvars.ContextVar("fangpin_today", default=None)


@contextmanager
def evaluation_day(day: dt.date) -> Iterator[None]:
    token = _today.set(day)
    try:
        yield
    finally:
        _today.reset(token)


def current_day() -> dt.date:
    return _today.get() or dt.date.today()


# -- XPath 1.0 conversions (https://www.w3.org/TR/xpath-10/#section-Function-Calls) ---------
def to_string(value: Any) -> str:
    if isinstance(value, list):
        if not value:
            return ""
        first = value[0]
        return first if isinstance(first, str) else "".join(first.itertext())
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return str(int(value)) if value == int(value) else repr(value)
    return str(value)


def to_number(value: Any) -> float:
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, (int, float)):
        return float(value)
    text = to_string(value).strip()
    try:
        return float(text) if re.fullmatch(r"-?(\d+(\.\d*)?|\.\d+)", text) else math.nan
    except ValueError:
        return math.nan


def to_bool(value: Any) -> bool:
    if isinstance(value, list):
        return bool(value)
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return not (value == 0 or math.isnan(value))
    return bool(to_string(value))


# -- dates -----------------------------------------------------------------------------------
_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})\Z")
_DATETIME = re.compile(r"^(\d{4}-\d{2}-\d{2})T(\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?\Z")


def parse_date(text: str) -> dt.date | None:
    match = _DATE.match(text)
    if not match:
        return None
    try:
        return dt.date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    except ValueError:
        return None


def parse_datetime(text: str) -> dt.datetime | None:
    match = _DATETIME.match(text)
    if not match:
        return None
    try:
        tz = match.group(6)
        iso = text.replace("Z", "+00:00") if tz == "Z" else text
        if tz and tz not in ("Z",) and ":" not in tz:
            iso = text[: -len(tz)] + tz[:3] + ":" + tz[3:]
        value = dt.datetime.fromisoformat(iso)
    except ValueError:
        return None
    return value


def date_days(day: dt.date) -> float:
    return float((day - EPOCH).days)


def datetime_days(moment: dt.datetime) -> float:
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.UTC).replace(tzinfo=None)
    delta = moment - dt.datetime(1970, 1, 1)
    return delta.total_seconds() / 86400.0


def as_days(value: Any) -> float:
    """A date, dateTime or number (already days) as days since the epoch; NaN otherwise."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    text = to_string(value).strip()
    number = to_number(text)
    if not math.isnan(number):
        return number
    if (day := parse_date(text)) is not None:
        return date_days(day)
    if (moment := parse_datetime(text)) is not None:
        return datetime_days(moment)
    return math.nan


# -- ODK functions ---------------------------------------------------------------------------
def _selected(_ctx, values, value) -> bool:
    return to_string(value).strip() in to_string(values).split()


def _count_selected(_ctx, values) -> float:
    return float(len(to_string(values).split()))


def _selected_at(_ctx, values, index) -> str:
    items = to_string(values).split()
    i = to_number(index)
    return items[int(i)] if not math.isnan(i) and 0 <= int(i) < len(items) else ""


def _regex(_ctx, value, pattern) -> bool:
    try:
        return strict_end(to_string(pattern)).search(to_string(value)) is not None
    except re.error:
        return False


@lru_cache(maxsize=1024)
def strict_end(pattern: str) -> re.Pattern:
    """The pattern with ``$`` meaning the end of the text only, as in XPath 2.0's ``matches``:
    Python's (and Java's) ``$`` also matches before a final newline, so an ID number typed with
    one passed ``^[0-9]{17}[0-9X]$`` and then escaped duplicate detection."""
    out, in_class, escaped = [], False, False
    for char in pattern:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "[":
            in_class = True
        elif char == "]":
            in_class = False
        elif char == "$" and not in_class:
            out.append(r"\Z")
            continue
        out.append(char)
    return re.compile("".join(out))


def _if(_ctx, condition, then, otherwise) -> Any:
    return then if to_bool(condition) else otherwise


def _coalesce(_ctx, first, second) -> str:
    a = to_string(first)
    return a if a else to_string(second)


def _position(_ctx, nodes) -> float:
    """ODK's ``position(node)``: the node's 1-based place among its same-named siblings (which
    repeat entry it is). XPath's own ``position()`` cannot be overridden in lxml, so expressions
    are rewritten to call this one when ``position`` is given an argument."""
    if not isinstance(nodes, list) or not nodes or not isinstance(nodes[0], etree._Element):
        return math.nan
    node = nodes[0]
    return float(1 + sum(1 for _ in node.itersiblings(node.tag, preceding=True)))


_POSITION_WITH_ARGUMENT = re.compile(r"\bposition\(\s*(?=[^\s)])")


def _instance(_ctx, _name) -> list:
    """A secondary instance (the per-user lists a device downloads as form media) is not on the
    server: what a form looks up in one is empty here, and the device's answer stands."""
    return []


def _today_fn(_ctx) -> float:
    return date_days(current_day())


def _now(_ctx) -> float:
    return datetime_days(dt.datetime.now(dt.UTC))


def _int(_ctx, value) -> float:
    number = to_number(value)
    return number if math.isnan(number) or math.isinf(number) else float(math.trunc(number))


def _boolean_from_string(_ctx, value) -> bool:
    return to_string(value).strip() in ("true", "1")


def _substr(_ctx, value, start, end=None) -> str:
    text = to_string(value)
    a = int(to_number(start))
    return text[a:] if end is None else text[a : int(to_number(end))]


def _ends_with(_ctx, value, suffix) -> bool:
    return to_string(value).endswith(to_string(suffix))


def _pow(_ctx, base, exponent) -> float:
    try:
        return float(to_number(base) ** to_number(exponent))
    except (OverflowError, ZeroDivisionError, ValueError):
        return math.nan


def _abs(_ctx, value) -> float:
    return abs(to_number(value))


def _numbers(args) -> list[float]:
    """Numbers of every argument, each node of a node-set counting on its own (ODK min/max)."""
    out: list[float] = []
    for arg in args:
        if isinstance(arg, list):
            out.extend(to_number([node]) for node in arg)
        else:
            out.append(to_number(arg))
    return out


def _min(_ctx, *args) -> float:
    values = _numbers(args)
    return math.nan if not values or any(math.isnan(v) for v in values) else min(values)


def _max(_ctx, *args) -> float:
    values = _numbers(args)
    return math.nan if not values or any(math.isnan(v) for v in values) else max(values)


def _once(ctx, value) -> Any:
    """ODK's once(): the node keeps the value it has (what the device computed, for a generated id);
    only an empty node takes the new one."""
    node = getattr(ctx, "context_node", None)
    current = node.text if node is not None and isinstance(getattr(node, "text", None), str) else ""
    return current if current else value


def _uuid(_ctx, *_args) -> str:
    return ""


def _date(_ctx, value) -> float:
    return as_days(value)


def _format_date(_ctx, value, fmt) -> str:
    days = as_days(value)
    if math.isnan(days):
        return ""
    moment = dt.datetime(1970, 1, 1) + dt.timedelta(days=days)
    mapping = {"%Y": "%Y", "%m": "%m", "%d": "%d", "%H": "%H", "%M": "%M", "%S": "%S", "%y": "%y", "%e": "%d"}
    out = to_string(fmt)
    for odk, py in mapping.items():
        out = out.replace(odk, moment.strftime(py))
    return out


FUNCTIONS = {
    "selected": _selected,
    "count-selected": _count_selected,
    "selected-at": _selected_at,
    "regex": _regex,
    "if": _if,
    "coalesce": _coalesce,
    "instance": _instance,
    "odk-position": _position,
    "today": _today_fn,
    "now": _now,
    "int": _int,
    "boolean-from-string": _boolean_from_string,
    "substr": _substr,
    "ends-with": _ends_with,
    "pow": _pow,
    "abs": _abs,
    "min": _min,
    "max": _max,
    "once": _once,
    "uuid": _uuid,
    "date": _date,
    "date-time": _date,
    "decimal-date-time": _date,
    "format-date": _format_date,
    "format-date-time": _format_date,
}

_registered = False


def register() -> None:
    """Install the ODK functions into lxml's default XPath function namespace (once per process)."""
    global _registered
    if _registered:
        return
    namespace = etree.FunctionNamespace(None)
    for name, fn in FUNCTIONS.items():
        namespace[name] = fn
    _registered = True


_compiled = threading.local()  # per thread: an lxml XPath object evaluates one call at a time


def compiled(expression: str) -> etree.XPath:
    cache = getattr(_compiled, "cache", None)
    if cache is None:
        cache = _compiled.cache = {}
    xpath = cache.get(expression)
    if xpath is None:
        register()
        if len(cache) > 4096:
            cache.clear()
        xpath = cache[expression] = etree.XPath(
            _POSITION_WITH_ARGUMENT.sub("odk-position(", expression), smart_strings=False
        )
    return xpath


def evaluate(expression: str, context: etree._Element) -> Any:
    return compiled(expression)(context)
