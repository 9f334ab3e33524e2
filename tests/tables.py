"""Markdown tables as test data, the way pyxform's tests write their forms: one row per case.

``| a | b |`` lines are rows; the first row names the columns; ``|---|`` separators and lines
outside a table are skipped; an empty cell or ``—`` is None.
"""

from __future__ import annotations

import re


def rows(markdown: str) -> list[dict[str, str | None]]:
    lines = [line.strip() for line in markdown.splitlines() if line.strip().startswith("|")]
    cells = [[c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]] for line in lines]
    cells = [row for row in cells if not all(re.fullmatch(r":?-+:?", c) for c in row)]
    header, body = cells[0], cells[1:]
    for n, row in enumerate(body, start=2):
        if len(row) != len(header):
            raise ValueError(f"table row {n} has {len(row)} cells, the header {len(header)}: {row}")
    return [{k: _cell(v) for k, v in zip(header, row, strict=True)} for row in body]


def _cell(text: str) -> str | None:
    return None if text in ("", "—") else text.replace(r"\|", "|")
