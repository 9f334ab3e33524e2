"""Form spec: what validation needs to know about one form version, read from its built XForm.

The XForm is the contract (it is what tablets ran), so the spec is compiled from the XML with lxml,
not from the XLSForm: every field's path, kind, required/constraint/relevant/calculate expressions,
constraint messages in both languages, choice lists and repeat structure. Specs are immutable and
cached per (form id, version): a submission is always checked against the version it names.

Paths are relative to the instance root, ``/`` separated, without repeat positions:
``deaths``, ``members/name``, ``photos/photo``.

Groups that are not repeats are *pages* (``field-list`` groups, one screen each in Collect): they
shape the XForm instance but not the data. A field's ``path`` leaves them out, so the data keeps
the contract's flat field names whatever the pages are; its ``xml_path`` keeps them, for building
the instance the form's expressions are evaluated against (``/data/household/head_name``).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

from lxml import etree

from forms import HTML_NS, XFORMS_NS, XForm, built_path

JR_NS = "http://openrosa.org/javarosa"
NS = {"h": HTML_NS, "x": XFORMS_NS, "jr": JR_NS}

# Field kinds (the XLSForm type names people know; yes/no is a select_one over ``yes_no``).
KINDS = (
    "text",
    "integer",
    "decimal",
    "date",
    "dateTime",
    "time",
    "geopoint",
    "select_one",
    "select_multiple",
    "binary",
    "calculate",
    "group",
    "repeat",
    "page",
)
_BIND_KIND = {
    "string": "text",
    "int": "integer",
    "integer": "integer",
    "decimal": "decimal",
    "date": "date",
    "dateTime": "dateTime",
    "time": "time",
    "geopoint": "geopoint",
    "binary": "binary",
    "select1": "select_one",
    "select": "select_multiple",
}


@dataclass(frozen=True)
class Choice:
    value: str
    label: dict[str, str]


# What the forms work out without asking (calculate rows carry no label), named for the screens
# and lists that show them; the names are the data contract's (domain.md).
CALCULATED_LABELS = {
    "household_id": {"zh": "户编号", "en": "Household id"},
    "new_household_id": {"zh": "新户编号", "en": "New household id"},
    "household_base_version": {"zh": "所依据的农户版本", "en": "Household version it was based on"},
}
MAX_ITEMS = {"members": 50, "photos": 20}  # repeat name -> most entries one survey may have
MAX_ITEMS_DEFAULT = 50


@dataclass(frozen=True)
class Field:
    path: str
    kind: str
    label: dict[str, str] = field(default_factory=dict)
    required: str | None = None  # XPath; "true()" for plain required
    constraint: str | None = None
    constraint_msg: dict[str, str] | None = None
    relevant: str | None = None
    calculate: str | None = None
    choices: tuple[Choice, ...] = ()
    list_name: str | None = None
    repeat: str | None = None  # path of the innermost enclosing repeat
    xml_path: str = ""  # where it sits in the XForm instance, pages included

    @functools.cached_property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]

    @functools.cached_property
    def parent(self) -> str:
        return self.path.rsplit("/", 1)[0] if "/" in self.path else ""

    @functools.cached_property
    def xml_parent(self) -> str:
        return self.xml_path.rsplit("/", 1)[0] if "/" in self.xml_path else ""

    @property
    def choice_values(self) -> frozenset[str]:
        return frozenset(c.value for c in self.choices)


@dataclass(frozen=True, eq=False)  # identity: specs are cached per XForm, and schemas per spec
class FormSpec:
    form_id: str
    version: str
    root: str  # instance root element name (pyxform: "data")
    fields: dict[str, Field]  # in document order, by data path
    layout: tuple[Field, ...] = ()  # every node of the instance, pages included, in document order

    def children(self, parent: str) -> list[Field]:
        """The data's fields directly inside ``parent`` (a repeat's path, or "" for the top)."""
        return self._children.get(parent, [])

    def xml_children(self, parent: str) -> list[Field]:
        """What the XForm instance holds directly inside ``parent`` (an instance path): fields,
        repeats and pages, in document order."""
        return self._xml_children.get(parent, [])

    @functools.cached_property
    def pages(self) -> dict[str, Field]:
        """The page groups, by instance path."""
        return {f.xml_path: f for f in self.layout if f.kind == "page"}

    @functools.cached_property
    def _xml_children(self) -> dict[str, list[Field]]:
        out: dict[str, list[Field]] = {}
        for f in self.layout:
            out.setdefault(f.xml_parent, []).append(f)
        return out

    @functools.cached_property
    def _children(self) -> dict[str, list[Field]]:
        """Fields by container path, computed once (validation walks them for every record)."""
        out: dict[str, list[Field]] = {}
        for f in self.fields.values():
            out.setdefault(f.parent, []).append(f)
        return out

    @property
    def repeats(self) -> list[str]:
        return [f.path for f in self.fields.values() if f.kind == "repeat"]

    def max_items(self, repeat: str) -> int:
        """How many entries a repeat may hold. A household has no more than fifty members, a damage
        survey no more than twenty photos; an unbounded list was a way to stall the worker (one
        survey of 100,000 empty members took 90 s of it and made a 147 MB review)."""
        return MAX_ITEMS.get(repeat.rsplit("/", 1)[-1], MAX_ITEMS_DEFAULT)


ACTIONS = frozenset({"setvalue", "setgeopoint"})  # XForms actions inside a control (trigger, defaults)


def choice_labels(f: Field | None, value: object) -> dict[str, str] | None:
    """A choice answer as its labels ``{"zh", "en"}`` (a select_multiple's joined with 、), or None
    when ``value`` is not an answer from ``f``'s list."""
    if f is None or not f.choices or not isinstance(value, str):
        return None
    labels = {c.value: c.label for c in f.choices}
    parts = value.split() if f.kind == "select_multiple" else [value]
    if not parts or not all(p in labels for p in parts):
        return None
    return {lang: "、".join(labels[p].get(lang) or labels[p].get("zh") or p for p in parts) for lang in ("zh", "en")}


def selected(answer: object) -> frozenset[str]:
    """The choices of a select answer: XForms writes a select_multiple as space-separated values,
    so a select_one answer is the one-element case (release 2026120105 made ``health`` multiple)."""
    return frozenset(answer.split()) if isinstance(answer, str) else frozenset()


def _local(el: etree._Element) -> str:
    return etree.QName(el).localname


def _itext(model: etree._Element) -> dict[str, dict[str, str]]:
    """itext id -> {language code -> text}; "Chinese (zh)" becomes "zh"."""
    out: dict[str, dict[str, str]] = {}
    for translation in model.findall("x:itext/x:translation", NS):
        lang = translation.get("lang", "")
        match = re.search(r"\(([a-zA-Z-]+)\)\s*$", lang)
        code = match.group(1) if match else lang
        for text in translation.findall("x:text", NS):
            value = text.find("x:value", NS)
            out.setdefault(text.get("id", ""), {})[code] = (
                "".join(value.itertext()).strip() if value is not None else ""
            )
    return out


def _itext_ref(ref: str | None) -> str | None:
    match = re.fullmatch(r"\s*jr:itext\('([^']+)'\)\s*", ref or "")
    return match.group(1) if match else None


def _field_label(control: etree._Element | None, wrapper: etree._Element | None, itext: dict) -> dict[str, str]:
    """A control's label, or for a repeat the label of the group around it (where XLSForm puts it)."""
    for element in (control, wrapper):
        label = _label(element, itext) if element is not None else {}
        if label:
            return label
    return {}


def _label(control: etree._Element, itext: dict[str, dict[str, str]]) -> dict[str, str]:
    label = control.find("x:label", NS)
    if label is None:
        return {}
    ref = _itext_ref(label.get("ref"))
    return dict(itext.get(ref, {})) if ref else {"en": "".join(label.itertext()).strip()}


def compile_xform(xml: bytes) -> FormSpec:
    """Compile a built XForm into its spec."""
    form = XForm.parse(xml)
    root = etree.fromstring(xml)
    model = root.find("h:head/x:model", NS)
    instance = model.find("x:instance", NS)[0]
    base = "/" + _local(instance)
    itext = _itext(model)
    secondary = {inst.get("id"): inst for inst in model.findall("x:instance[@id]", NS)}

    def rel(path: str) -> str:
        return path[len(base) + 1 :] if path.startswith(base + "/") else path

    # Instance skeleton: document order, structure, repeats (the jr:template copy describes a repeat).
    order: list[str] = []
    kinds: dict[str, str] = {}
    seen: set[str] = set()

    def walk(el: etree._Element, prefix: str) -> None:
        for child in el:
            name = _local(child)
            path = f"{prefix}/{name}" if prefix else name
            if path == "meta" or path in seen:
                continue
            seen.add(path)
            order.append(path)
            if len(child):
                kinds[path] = "group"
                walk(child, path)

    walk(instance, "")
    binds = {rel(b.get("nodeset", "")): b for b in model.findall("x:bind", NS)}
    controls: dict[str, etree._Element] = {}
    wrappers: dict[str, etree._Element] = {}  # a repeat's label sits on the group around it
    for control in root.find("h:body", NS).iter():
        if not isinstance(control.tag, str):
            continue
        ref = control.get("ref") or control.get("nodeset")
        if ref is None or _local(control) in ACTIONS:  # an action names the node it sets, not a control
            continue
        if _local(control) == "repeat":
            kinds[rel(ref)] = "repeat"
        controls.setdefault(rel(ref), control)
        if _local(control) == "repeat":
            if _local(controls[rel(ref)]) == "group":
                wrappers[rel(ref)] = controls[rel(ref)]
            controls[rel(ref)] = control

    fields: dict[str, Field] = {}
    layout: list[Field] = []
    repeats: list[str] = []
    for path in order:
        bind = binds.get(path)
        control = controls.get(path)
        kind = kinds.get(path)
        if kind == "group":  # a page: in the instance, not in the data
            layout.append(Field(path=path, kind="page", label=_label(control, itext) if control is not None else {},
                                relevant=_expr(bind, "relevant"), xml_path=path))  # fmt: skip
            continue
        parts = path.split("/")  # the data path: the instance path without its pages
        data_path = "/".join(part for i, part in enumerate(parts) if kinds.get("/".join(parts[: i + 1])) != "group")
        if kind == "repeat":
            repeats.append(data_path)
        if kind is None:
            tag = _local(control) if control is not None else None
            if tag in ("select1", "select"):
                kind = _BIND_KIND[tag]
            elif bind is not None and bind.get("calculate") is not None and control is None:
                # a number the form works out (a total) is typed as one; anything else is text
                kind = _BIND_KIND[bind.get("type")] if bind.get("type") in ("int", "decimal") else "calculate"
            else:
                kind = _BIND_KIND.get((bind.get("type") if bind is not None else None) or "string", "text")
        choices, list_name = (), None
        if control is not None and kind in ("select_one", "select_multiple"):
            choices, list_name = _choices(control, secondary, itext)
        msg_ref = _itext_ref(bind.get(f"{{{JR_NS}}}constraintMsg")) if bind is not None else None
        plain_msg = bind.get(f"{{{JR_NS}}}constraintMsg") if bind is not None and not msg_ref else None
        enclosing = [r for r in repeats if data_path.startswith(r + "/")]
        if data_path in fields:
            raise ValueError(f"two fields are {data_path} once pages are left out: names must be unique")
        fields[data_path] = Field(
            path=data_path,
            kind=kind,
            label=_field_label(control, wrappers.get(path), itext) or dict(CALCULATED_LABELS.get(data_path, {})),
            required=_expr(bind, "required"),
            constraint=_expr(bind, "constraint"),
            constraint_msg=dict(itext.get(msg_ref, {})) if msg_ref else ({"en": plain_msg} if plain_msg else None),
            relevant=_expr(bind, "relevant"),
            calculate=_expr(bind, "calculate"),
            choices=choices,
            list_name=list_name,
            repeat=enclosing[-1] if enclosing else None,
            xml_path=path,
        )
        layout.append(fields[data_path])
    return FormSpec(form_id=form.form_id, version=form.version, root=_local(instance), fields=fields,
                    layout=tuple(layout))  # fmt: skip


def _expr(bind: etree._Element | None, name: str) -> str | None:
    if bind is None:
        return None
    value = (bind.get(name) or "").strip()
    if not value or (name == "required" and value in ("false()", "false")):
        return None
    return value


def _choices(control: etree._Element, secondary: dict, itext: dict) -> tuple[tuple[Choice, ...], str | None]:
    itemset = control.find("x:itemset", NS)
    if itemset is not None:
        match = re.match(r"instance\('([^']+)'\)", itemset.get("nodeset", ""))
        if not match or match.group(1) not in secondary:
            return (), None
        list_name = match.group(1)
        out = []
        for item in secondary[list_name].iter(f"{{{XFORMS_NS}}}item"):
            value = item.findtext("x:name", namespaces=NS) or item.findtext("x:value", namespaces=NS) or ""
            label_id = item.findtext("x:itextId", namespaces=NS)
            out.append(Choice(value, dict(itext.get(label_id, {})) if label_id else {}))
        return tuple(out), list_name
    items = [
        Choice(i.findtext("x:value", namespaces=NS) or "", _label(i, itext)) for i in control.findall("x:item", NS)
    ]
    return tuple(items), None


@functools.lru_cache(maxsize=256)
def spec_for(xml: bytes) -> FormSpec:
    """Compiled spec, cached by the XForm's content (one entry per published version)."""
    return compile_xform(xml)


@functools.cache
def current_choices(form_id: str, path: str) -> tuple[Choice, ...]:
    """The choices this release of ``form_id`` offers for ``path`` (a data path): the one list the
    server, the device lists and the commands share."""
    return spec_for(built_path(form_id).read_bytes()).fields[path].choices
