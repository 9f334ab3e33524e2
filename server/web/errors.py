"""Error responses: CouchDB's ``{"error", "reason"}`` shape, with the reason in Chinese and English.

Tablets (PouchDB) read ``error`` and ``reason`` as CouchDB would send them; people read
``message``. Every rejection says exactly what was wrong, in both languages.
"""

from __future__ import annotations

from flask import Response, jsonify


def bilingual(zh: str, en: str) -> dict[str, str]:
    return {"zh": zh, "en": en}


def error_response(status: int, error: str, zh: str, en: str, **extra: object) -> Response:
    resp = jsonify({"error": error, "reason": f"{zh} / {en}", "message": bilingual(zh, en), **extra})
    resp.status_code = status
    return resp


class ApiError(Exception):
    """Raised anywhere in a request; turned into :func:`error_response` by the app."""

    def __init__(self, status: int, error: str, zh: str, en: str, **extra: object) -> None:
        super().__init__(en)
        self.status, self.error, self.zh, self.en, self.extra = status, error, zh, en, extra

    def response(self) -> Response:
        return error_response(self.status, self.error, self.zh, self.en, **self.extra)


def unauthorized() -> ApiError:
    return ApiError(401, "unauthorized", "需要登录（用户名和密码）", "authentication required (name and password)")


def forbidden(zh: str, en: str) -> ApiError:
    return ApiError(403, "forbidden", zh, en)


def bad_request(zh: str, en: str, **extra: object) -> ApiError:
    return ApiError(400, "bad_request", zh, en, **extra)


def not_found(zh: str, en: str) -> ApiError:
    return ApiError(404, "not_found", zh, en)


def storage_failure(disk_full: bool, reading: bool = False) -> ApiError:
    """What a client is told when CouchDB itself failed a request (5xx): never its raw reason, which
    names server paths. A full disk is said as such (507): the client keeps its data and resends
    later, which replication makes safe."""
    if reading:  # nothing was being stored: say so, not "may not have been stored"
        return ApiError(
            502, "upstream_error", "数据库暂时无法读取，请稍后重试", "the database could not be read now; retry later"
        )
    if disk_full:
        return ApiError(
            507,
            "insufficient_storage",
            "服务器存储空间已满，本次数据未保存完整；设备上的数据仍在，稍后重新同步即可",
            "the server's storage is full: this request was not stored in full; the data stays on the device, "
            "sync again later",
        )
    return ApiError(
        502,
        "upstream_error",
        "数据库暂时无法完成请求，本次数据可能未保存完整；稍后重新同步即可",
        "the database could not complete the request: it may not have been stored in full; sync again later",
    )
