"""Server time as stored in documents: UTC, to the second, ISO 8601 with ``Z``."""

from __future__ import annotations

import time


def utc_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
