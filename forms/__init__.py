"""Survey definitions: XLSForm sources (edited in Excel/WPS) and the XForms pyxform builds from them.

Both the ``.xlsx`` source and the built ``.xml`` are committed; ``fangpin forms build`` rebuilds the
XML and ``fangpin forms build --check`` (and a test) fails when the two disagree.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

FORMS_DIR = Path(__file__).resolve().parent
VERSIONS_DIR = FORMS_DIR / "versions"  # every earlier released XForm, as built then
FORM_IDS = ("damage_survey", "household_survey")
XFORMS_NS = "http://www.w3.org/2002/xforms"
HTML_NS = "http://www.w3.org/1999/xhtml"


@dataclass(frozen=True)
class XForm:
    """One built form version, as published to ``fp_forms`` and served to ODK clients."""

    form_id: str
    version: str
    title: str
    xml: bytes

    @property
    def md5(self) -> str:
        return "md5:" + hashlib.md5(self.xml).hexdigest()

    @property
    def doc_id(self) -> str:
        return f"form:{self.form_id}:{self.version}"

    @classmethod
    def parse(cls, xml: bytes) -> XForm:
        root = etree.fromstring(xml)
        title = root.findtext(f"{{{HTML_NS}}}head/{{{HTML_NS}}}title") or ""
        instance = root.find(f"{{{HTML_NS}}}head/{{{XFORMS_NS}}}model/{{{XFORMS_NS}}}instance")
        if instance is None or len(instance) == 0:
            raise ValueError("XForm has no primary instance")
        data = instance[0]
        form_id, version = data.get("id"), data.get("version")
        if not form_id or not version:
            raise ValueError("XForm primary instance lacks id or version")
        return cls(form_id=form_id, version=version, title=title, xml=xml)


def version_key(version: str) -> tuple:
    """Form versions compare as numbers when they are digits (ODK's yyyymmddnn habit), else as text."""
    return (0, int(version), "") if version.isdigit() else (1, 0, version)


def source_path(form_id: str) -> Path:
    return FORMS_DIR / f"{form_id}.xlsx"


def built_path(form_id: str) -> Path:
    return FORMS_DIR / f"{form_id}.xml"


def build(source: Path | bytes, validate: bool = False, file_type: str | None = None) -> bytes:
    """XLSForm → XForm XML with pyxform; ``validate`` also runs ODK Validate (needs Java).

    ``source`` is a workbook path, or the bytes of one with ``file_type`` (".xlsx", ".md", …).
    """
    from pyxform.xls2xform import convert

    warnings: list[str] = []
    result = convert(xlsform=source, pretty_print=True, validate=validate, warnings=warnings, file_type=file_type)
    if warnings:
        raise ValueError("pyxform warnings: " + "; ".join(warnings))
    return result.xform.encode("utf-8")


def current_forms() -> list[XForm]:
    """The committed, built XForms of this release: the version a tablet gets today."""
    return [XForm.parse(built_path(form_id).read_bytes()) for form_id in FORM_IDS]


def shipped_forms() -> list[XForm]:
    """Every version ever released, oldest first per form, the current one last: a fresh server
    publishes them all, so a tablet still on an older version is checked against what it ran."""
    older = [XForm.parse(path.read_bytes()) for path in sorted(VERSIONS_DIR.glob("*.xml"))]
    return sorted([*older, *current_forms()], key=lambda f: (FORM_IDS.index(f.form_id), version_key(f.version)))


def build_all(check: bool = False, validate: bool = False) -> list[str]:
    """Rebuild every form; with ``check`` write nothing and return the forms whose XML is stale.

    A new version keeps the one it replaces in ``forms/versions/``; other content under a version
    already built is refused, because that version may be on tablets and in ``fp_forms`` already.
    """
    stale = []
    for form_id in FORM_IDS:
        xml = build(source_path(form_id), validate=validate)
        target = built_path(form_id)
        if target.exists() and target.read_bytes() == xml:
            continue
        stale.append(form_id)
        if check:
            continue
        if target.exists():
            old, new = XForm.parse(target.read_bytes()), XForm.parse(xml)
            if old.version == new.version:
                raise ValueError(
                    f"{form_id} v{new.version} 已发布，内容不能再改：请在 settings 中提高 version / "
                    f"{form_id} v{new.version} is released and cannot change: raise the version in its settings"
                )
            VERSIONS_DIR.mkdir(exist_ok=True)
            (VERSIONS_DIR / f"{form_id}-{old.version}.xml").write_bytes(target.read_bytes())
        target.write_bytes(xml)
    return stale
