"""An XForm instance — the XML that ODK Collect and Enketo submit — as a submission's ``data`` (pure).

The result has exactly the shape a PouchDB tablet writes (architecture.md): groups nest as objects,
repeats are arrays of objects, integers and decimals are numbers, everything else stays text as
XForms has it (select_multiple space-separated). Typing follows the form spec of the version the
instance names; a value that does not parse stays as sent, so validation flags it and nothing is
lost. Without a spec (a form or version we do not know) the tree is kept as text, for the same
reason. ``meta`` (instanceID, deprecatedID, timeStart, timeEnd, deviceID) is read apart.

The parser resolves no entities and fetches nothing (XXE-safe).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from lxml import etree

from forms.spec import FormSpec

PARSER = etree.XMLParser(resolve_entities=False, no_network=True, remove_comments=True, huge_tree=False)
UUID = re.compile(r"^(?:uuid:)?([0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12})\Z")


class InstanceError(ValueError):
    """The XML is not a form instance we can file; said in Chinese and English like every refusal
    (``forms`` is the bottom layer, so it cannot use ``server.refusals``)."""

    def __init__(self, zh: str, en: str) -> None:
        super().__init__(f"{zh} / {en}")
        self.zh, self.en = zh, en


@dataclass
class Instance:
    form_id: str
    version: str | None
    instance_id: str  # as sent, e.g. "uuid:6f1c…"
    deprecated_id: str | None
    meta: dict[str, str] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def uuid(self) -> str:
        return uuid_of(self.instance_id)


def uuid_of(instance_id: str) -> str:
    """The submission uuid for an instanceID (lower-case, dashed); anything else is refused."""
    match = UUID.match(instance_id.strip())
    if not match:
        raise InstanceError(
            f"instanceID 不是 uuid：{instance_id[:60]}", f"instanceID is not a uuid: {instance_id[:60]}"
        )
    hexa = match.group(1).replace("-", "").lower()
    return f"{hexa[:8]}-{hexa[8:12]}-{hexa[12:16]}-{hexa[16:20]}-{hexa[20:]}"


def head(xml: bytes) -> tuple[etree._Element, str, str | None]:
    """(root, form id, version) of an instance."""
    try:
        root = etree.fromstring(xml, PARSER)
    except etree.XMLSyntaxError as exc:
        raise InstanceError(f"不是有效的 XML：{exc}", f"not well-formed XML: {exc}") from None
    form_id = root.get("id")
    if not form_id:
        raise InstanceError("实例根元素缺少 id（表单编号）", "the instance's root element has no id (form id)")
    return root, form_id, root.get("version")


def read(xml: bytes, spec: FormSpec | None) -> Instance:
    root, form_id, version = head(xml)
    meta_el = _child(root, "meta")
    meta = {_local(el): (el.text or "").strip() for el in meta_el} if meta_el is not None else {}
    instance_id = meta.get("instanceID") or ""
    if not instance_id:
        raise InstanceError("实例缺少 meta/instanceID", "the instance has no meta/instanceID")
    uuid_of(instance_id)
    data = _typed(root, spec, "") if spec is not None else _untyped(root)
    data.pop("meta", None)
    return Instance(form_id, version, instance_id, meta.get("deprecatedID") or None, meta, data)


def _typed(el: etree._Element, spec: FormSpec, xml_parent: str, out: dict | None = None) -> dict[str, Any]:
    """An instance element's answers by the spec; a page's answers land beside their siblings."""
    out = {} if out is None else out
    fields = {f.name: f for f in spec.xml_children(xml_parent)}
    for child in el:
        if not isinstance(child.tag, str):
            continue
        name = _local(child)
        f = fields.get(name)
        if f is None:  # not in the form here: kept as sent (validation names it), never over an answer
            if name not in out:
                out[name] = _untyped_value(child)
        elif f.kind == "page":
            _typed(child, spec, f.xml_path, out)
        elif f.kind == "repeat":
            items = out.get(name)
            if not isinstance(items, list):  # the form's repeat wins over a stray element of its name
                items = out[name] = []
            items.append(_typed(child, spec, f.xml_path))
        elif f.kind == "group":
            out[name] = _typed(child, spec, f.xml_path)
        else:
            text = child.text.strip() if child.text else ""
            if text:
                out[name] = _scalar(text, f.kind)
    return out


def _scalar(text: str, kind: str) -> Any:
    try:
        if kind == "integer":
            return int(text)
        if kind == "decimal":
            return float(text)
    except ValueError:
        return text
    return text


def _untyped(el: etree._Element) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for child in el:
        if not isinstance(child.tag, str):
            continue
        name, value = _local(child), _untyped_value(child)
        if name in out:
            out[name] = [*out[name], value] if isinstance(out[name], list) else [out[name], value]
        elif value not in ("", None):
            out[name] = value
    return out


def _untyped_value(el: etree._Element) -> Any:
    if len(el):
        return _untyped(el)
    return (el.text or "").strip()


def _child(el: etree._Element, name: str) -> etree._Element | None:
    return next((c for c in el if isinstance(c.tag, str) and _local(c) == name), None)


def _local(el: etree._Element) -> str:
    return etree.QName(el).localname
