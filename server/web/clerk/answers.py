"""A submission's answers as the rows of its page: the form's label, the value (choice labels for
selects), and the validation issues of exactly that field next to it (pure)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from forms.spec import Field, FormSpec, choice_labels

CONTAINERS = ("group", "repeat")


def answer_rows(
    spec: FormSpec | None,
    data: Mapping[str, Any],
    issues: Iterable[Mapping[str, Any]],
    places: Mapping[str, str] | None = None,
) -> tuple[list[dict], list[dict]]:
    """(rows, issues that belong to no answer row, e.g. the envelope's). ``places`` names the codes
    a form lists from a file of the tablet's (``villages.csv``), which the form itself cannot."""
    by_path: dict[str, list[dict]] = {}
    for issue in issues:
        by_path.setdefault(str(issue.get("path") or ""), []).append(dict(issue))
    rows: list[dict] = []
    if spec is None:
        for key, value in data.items():
            rows.append(_row(key, {"zh": key, "en": key}, value, None, 0, by_path))
    else:
        _walk(spec, "", data, "", 0, rows, by_path)
    for row in rows:
        if row["kind"] == "select_one" and isinstance(row["raw"], str) and row["raw"] in (places or {}):
            row["value"] = {"zh": places[row["raw"]], "en": places[row["raw"]]}  # type: ignore[index]
    placed = {r["path"] for r in rows}
    loose = [i for path, items in by_path.items() if path not in placed for i in items]
    return rows, loose


def _walk(
    spec: FormSpec, parent: str, data: Mapping[str, Any], prefix: str, depth: int, rows: list, by_path: dict
) -> None:
    known = set()
    for f in spec.children(parent):
        known.add(f.name)
        value = data.get(f.name) if isinstance(data, Mapping) else None
        path = f"{prefix}{f.name}"
        if f.kind == "repeat":
            items = value if isinstance(value, list) else []
            rows.append(_row(path, f.label, None, f, depth, by_path, heading=True, count=len(items)))
            for n, item in enumerate(items, 1):
                rows.append(
                    _row(
                        f"{path}[{n}]",
                        {"zh": f"第 {n} 项", "en": f"item {n}"},
                        None,
                        f,
                        depth + 1,
                        by_path,
                        heading=True,
                    )
                )
                _walk(
                    spec, f.path, item if isinstance(item, Mapping) else {}, f"{path}[{n}]/", depth + 2, rows, by_path
                )
        elif f.kind == "group":
            rows.append(_row(path, f.label, None, f, depth, by_path, heading=True))
            _walk(spec, f.path, value if isinstance(value, Mapping) else {}, f"{path}/", depth + 1, rows, by_path)
        elif value is not None or path in by_path:
            rows.append(_row(path, f.label, value, f, depth, by_path))
    if isinstance(data, Mapping):  # what the form does not know is shown too: nothing is hidden
        for key in data:
            if key not in known:
                rows.append(_row(f"{prefix}{key}", {"zh": key, "en": key}, data[key], None, depth, by_path))


def _row(
    path: str,
    label: Mapping[str, str],
    value: Any,
    f: Field | None,
    depth: int,
    by_path: dict,
    heading: bool = False,
    count: int | None = None,
) -> dict:
    return {
        "path": path,
        "label": dict(label) or {"zh": path, "en": path},
        "value": None if heading else display(value, f),
        "raw": value,
        "kind": f.kind if f else "unknown",
        "depth": depth,
        "heading": heading,
        "count": count,
        "issues": by_path.get(path, []),
    }


def display(value: Any, f: Field | None) -> Any:
    """Choice values as their labels ({zh, en}); lists and objects as text."""
    labels = choice_labels(f, value)
    if labels is not None:
        return labels
    if isinstance(value, list | dict):
        return str(value)
    return value
