"""A refusal from domain code, said in Chinese and English.

It sits at the root of ``server`` because every room raises it: the domain (a guard or a rule
says no), accounts (a lock-out) and the pipeline; the web faces turn it into an HTTP answer
(:mod:`server.web.errors`) and the ``fangpin`` command into one line.
"""

from __future__ import annotations


class BilingualError(ValueError):
    """``str()`` gives both languages; ``zh`` and ``en`` each one."""

    def __init__(self, zh: str, en: str) -> None:
        super().__init__(f"{zh} / {en}")
        self.zh, self.en = zh, en
