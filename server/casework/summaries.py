"""One line a clerk decides on, per submission in the queue (issue 19): the damage a damage survey
reports, the size and income a household survey gives — in words, with the forms' own labels.

Pure: a household's facts (:func:`server.pipeline.readmodel.queue_facts`) in, ``{"zh", "en"}`` out.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from forms.spec import current_choices


def _label(form: str, field: str, value: Any, lang: str) -> str:
    for choice in current_choices(form, field):
        if choice.value == value:
            return choice.label.get(lang) or choice.label.get("zh") or str(value)
    return str(value)


def _n(value: Any) -> float:
    return value if isinstance(value, int | float) and not isinstance(value, bool) else 0


def _yuan(amount: float, lang: str) -> str:
    if lang == "zh":
        return f"{amount / 10000:.1f} 万元" if amount >= 10000 else f"{amount:.0f} 元"
    return f"{amount:,.0f} yuan"


def damage(facts: Mapping[str, Any]) -> dict[str, str]:
    out = {}
    for lang in ("zh", "en"):
        parts = []
        house = facts.get("house_damage")
        if house and house != "none":
            prefix = "住房" if lang == "zh" else "house "
            parts.append(prefix + _label("damage_survey", "house_damage", house, lang))
        people = [(k, _n(facts.get(k))) for k in ("deaths", "missing", "injured_serious")]
        words = {"zh": {"deaths": "死亡", "missing": "失踪", "injured_serious": "重伤"},
                 "en": {"deaths": "dead", "missing": "missing", "injured_serious": "badly hurt"}}[lang]  # fmt: skip
        hurt = [f"{words[k]} {v:.0f}" if lang == "en" else f"{words[k]}{v:.0f}" for k, v in people if v]
        if hurt:
            parts.append(" ".join(hurt))
        if facts.get("relocated") not in (None, "", "none"):
            parts.append(_label("damage_survey", "relocated", facts["relocated"], lang))
        if _n(facts.get("water_cut_days")):
            days = _n(facts["water_cut_days"])
            parts.append(f"停水 {days:.0f} 天" if lang == "zh" else f"no water {days:.0f} days")
        if _n(facts.get("direct_loss_yuan")):
            amount = _yuan(_n(facts["direct_loss_yuan"]), lang)
            parts.append(("损失 " if lang == "zh" else "loss ") + amount)
        out[lang] = " · ".join(parts) or ("未报告损失" if lang == "zh" else "no damage reported")
    return out


def household(facts: Mapping[str, Any]) -> dict[str, str]:
    size = facts.get("size")
    keys = ("income_wage", "income_business", "income_property", "income_transfer")
    net = sum(_n(facts.get(k)) for k in keys) - _n(facts.get("cost_business"))
    known = any(k in facts for k in keys)
    out = {}
    for lang in ("zh", "en"):
        parts = []
        if size:
            parts.append(f"{size} 人" if lang == "zh" else f"{size} people")
        if known and size:
            per = _yuan(net / size, lang)
            parts.append(("人均 " if lang == "zh" else "per person ") + per)
        out[lang] = " · ".join(parts) or ("尚无家庭情况" if lang == "zh" else "no household facts yet")
    return out


def of(form_id: str | None, facts: Mapping[str, Any] | None) -> dict[str, str]:
    """The queue's line for a submission of ``form_id`` about a household with ``facts``."""
    facts = facts or {}
    return damage(facts) if form_id == "damage_survey" else household(facts)
