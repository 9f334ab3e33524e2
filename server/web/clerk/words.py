"""What the clerk app shows for the codes its records keep (audit actions, review history, causes of
a tier change, version events): one table, Chinese and English, looked up by kind and code. A code
not listed is shown as it is (and the crawl test reports it)."""

from __future__ import annotations

WORDS: dict[str, dict[str, tuple[str, str]]] = {
    "audit": {
        "submission.approve": ("通过", "approved"),
        "submission.reject": ("拒绝", "rejected"),
        "submission.return": ("退回", "returned"),
        "submission.undo": ("撤销", "undone"),
        "household.resolve": ("处理冲突", "conflict resolved"),
        "household.merge": ("合并农户", "households merged"),
        "household.merged_into": ("并入其他农户", "merged into another household"),
        "household.dismiss_duplicate": ("排除疑似重复", "possible duplicate dismissed"),
        "household.identification": ("记录识别步骤", "identification step recorded"),
        "household.measure": ("记录帮扶措施", "measure recorded"),
        "household.override": ("调整风险等级", "tier overridden"),
        "device.enrolment": ("生成入网码", "enrolment code made"),
        "device.enrolled": ("平板入网", "tablet enrolled"),
        "device.revoked": ("停用平板", "tablet revoked"),
        "device.resync": ("要求重新同步", "resync asked"),
        "event.open": ("开启灾害事件", "disaster event opened"),
        "event.close": ("关闭灾害事件", "disaster event closed"),
        "export.submissions": ("导出提交", "submissions exported"),
        "export.households": ("导出农户", "households exported"),
        "export.event_rollup": ("导出灾情汇总", "damage roll-up exported"),
        "export.measures": ("导出帮扶台账", "measures exported"),
        "roster.import": ("导入花名册", "roster imported"),
        "policy.activate": ("启用分级规则", "policy put in force"),
        "user.upsert": ("账号变更", "account changed"),
        "village.upsert": ("村登记变更", "village changed"),
    },
    "history": {
        "checked": ("系统校验", "checked by the system"),
        "revalidated": ("重新校验", "checked again"),
        "revision_conflict": ("修订冲突已归档", "conflicting revisions archived"),
        "undo": ("撤销", "undone"),
        "approve": ("通过", "approved"),
        "reject": ("拒绝", "rejected"),
        "return": ("退回", "returned"),
    },
    "cause": {
        "submission": ("新的调查", "a new survey"),
        "review": ("审核结果", "a review decision"),
        "policy": ("分级规则变更", "a policy change"),
        "override": ("乡镇调整", "the township's override"),
        "resolution": ("处理冲突", "a conflict resolved"),
        "merge": ("合并农户", "households merged"),
        "roster": ("花名册", "the roster"),
    },
    "event": {
        "submission": ("调查", "survey"),
        "resolution": ("处理冲突", "conflict resolved"),
        "merge": ("合并农户", "merge"),
        "roster": ("花名册", "roster"),
    },
    "by": {"worker": ("系统", "system")},
    "source": {  # where a household record began (version 0)
        "roster": ("花名册", "the roster"),
        "field": ("平板新登记", "registered on a tablet"),
    },
    "duplicate": {  # why two households may be one (server/households/matching.py)
        "same_head_id": ("户主身份证号相同", "same head's ID number"),
        "similar_head_name": ("户主姓名相近", "similar head's name"),
        "shared_member_id": ("有相同身份证号的成员", "a member with the same ID number"),
        "possible_move": ("疑似迁居（另一村的户）", "possibly moved (a household of another village)"),
    },
}


def word(kind: str, code: object) -> dict[str, str] | None:
    """{"zh", "en"} for a code of ``kind``, or None when the table does not know it."""
    found = WORDS.get(kind, {}).get(str(code))
    return {"zh": found[0], "en": found[1]} if found else None
