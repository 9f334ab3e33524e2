"""gunicorn's access log with personal numbers masked (PIPL): the log keeps paths, never an ID
number or a phone number that a caller put into one (a mistaken link, a probe)."""

from __future__ import annotations

import re

from gunicorn.glogging import Logger

ID_NUMBER = re.compile(r"(?<![0-9])[0-9]{17}[0-9Xx](?![0-9A-Za-z])")
PHONE = re.compile(r"(?<![0-9])1[3-9][0-9]{9}(?![0-9])")


def mask(text: str) -> str:
    return PHONE.sub("1**********", ID_NUMBER.sub("******************", text))


class MaskingLogger(Logger):
    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        for key in ("r", "U", "q", "f"):
            if isinstance(atoms.get(key), str):
                atoms[key] = mask(atoms[key])
        return atoms
