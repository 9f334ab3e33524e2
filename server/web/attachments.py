"""Files that devices send (photos, and whatever else arrives as an attachment) and how they are
served back.

A device names an attachment's content type itself, so the type says nothing: an attachment typed
``text/html`` or ``image/svg+xml`` served inline on the clerk origin ran script with the clerk's
session. Only what the bytes show to be a JPEG, PNG or WebP is served inline, as that type;
everything else is a download. The same sniffing gives a photo its type when the client sent
none or ``application/octet-stream`` (ODK Web Forms does), so such photos are shown, not hidden.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import quote

from flask import Response

INLINE_IMAGES = ("image/jpeg", "image/png", "image/webp")
UNTYPED = ("", "application/octet-stream", "binary/octet-stream")


def sniff_image(data: bytes) -> str | None:
    """The image type the bytes are, if they are a JPEG, PNG or WebP."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def stored_type(declared: str | None, data: bytes) -> str:
    """The content type to store an uploaded file under: the sniffed image type when the client
    sent none, else what it sent (serving never trusts it, see :func:`file_response`)."""
    declared = (declared or "").split(";")[0].strip().lower()
    if declared in UNTYPED:
        return sniff_image(data) or "application/octet-stream"
    return declared


def may_be_photo(stub: Mapping) -> bool:
    """Whether an attachment is listed as a photo: declared as a shown image type or untyped (its
    bytes decide when it is fetched; a non-image shows as a broken thumbnail, never as content)."""
    declared = str(stub.get("content_type") or "").split(";")[0].strip().lower()
    return declared in INLINE_IMAGES or declared in UNTYPED


def file_response(data: bytes, filename: str) -> Response:
    """An attachment as a browser may receive it from the clerk origin."""
    kind = sniff_image(data)
    disposition = "inline" if kind else "attachment"
    response = Response(data, mimetype=kind or "application/octet-stream")
    response.headers["Content-Disposition"] = f"{disposition}; filename*=UTF-8''{quote(filename, safe='')}"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
