"""JSON that can be stored: what a client sends is checked before anything is written.

CouchDB takes neither ``NaN``/``Infinity`` (not JSON at all, though Python's parser accepts them)
nor a lone UTF-16 surrogate (``"\\ud83d"`` alone is what JavaScript's string truncation makes of an
emoji): sent upstream, either failed the whole request with a 500, every retry. Deeply nested
input made the parser itself overflow. Each is refused here with a bilingual reason; the gateway
asks :func:`unstorable` per document so one bad survey never costs a batch the rest.
"""

from __future__ import annotations

import json
from typing import Any

from flask.json.provider import DefaultJSONProvider

from server.web.errors import ApiError


def unstorable(value: Any) -> tuple[str, str] | None:
    """Why ``value`` cannot be stored as JSON (zh, en), or None when it can."""
    try:
        json.dumps(value, ensure_ascii=False, allow_nan=False).encode("utf-8")
    except UnicodeEncodeError:
        return "含有无效的 Unicode 字符（孤立的代理码元）", "contains an invalid Unicode character (a lone surrogate)"
    except ValueError:
        return "含有 NaN 或 Infinity，这不是有效的数值", "contains NaN or Infinity, which is not a valid number"
    except RecursionError:
        return "嵌套层次过深", "is nested too deeply"
    return None


def parse(data: bytes | str) -> Any:
    """Parse a request body; a body that is not JSON, or too deep to parse, is a 400 saying so."""
    try:
        return json.loads(data)
    except RecursionError as exc:
        raise ApiError(400, "bad_request", "请求体嵌套层次过深", "the request body is nested too deeply") from exc
    except ValueError as exc:
        raise ApiError(
            400, "bad_request", "请求体不是有效的 JSON", f"the request body is not valid JSON: {exc}"
        ) from exc


class StoredJSONProvider(DefaultJSONProvider):
    """Flask's ``request.get_json`` refuses what could not be stored, with the reason."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        value = parse(s)
        why = unstorable(value)
        if why:
            raise ApiError(400, "bad_request", "请求体" + why[0], "the request body " + why[1])
        return value
