"""Chinese first, English second: templates write Chinese and ask ``_()`` for the reader's language.

The key of every English text is its Chinese original, so a template reads as the page a clerk
sees, and a test checks that every ``_("…")`` in the templates and views has its English here.
Bilingual messages from the domain (``{"zh", "en"}`` dicts) go through :func:`loc`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import g, request

COOKIE = "fangpin_lang"
LANGS = ("zh", "en")


def lang() -> str:
    """The reader's language (cookie ``fangpin_lang``), read once per request."""
    if "lang" not in g:
        chosen = request.cookies.get(COOKIE)
        g.lang = chosen if chosen in LANGS else "zh"
    return g.lang


def gettext(text: str, **values: Any) -> str:
    out = EN.get(text, text) if lang() == "en" else text
    return out.format(**values) if values else out


def loc(message: Any) -> str:
    """The reader's half of a ``{"zh", "en"}`` message (the other half if one is missing)."""
    if isinstance(message, Mapping):
        first, second = ("en", "zh") if lang() == "en" else ("zh", "en")
        return str(message.get(first) or message.get(second) or "")
    return "" if message is None else str(message)


def both(zh: str) -> dict[str, str]:
    """A Chinese text of this table with its English, as a ``{"zh", "en"}`` message."""
    return {"zh": zh, "en": EN.get(zh, zh)}


EN: dict[str, str] = {
    "导出选项": "Export options",
    "从审核队列或农户列表点“导出选项”，这里带着那里的筛选条件。": (
        "Opened from the queue or the household list (Export options), their filters are filled in here."
    ),
    "待处理": "To review",
    "待审核、有问题、已修改待审": "pending, with issues, edited",
    "本村还没有农户：请先导入花名册": "No households in this village yet: import the roster first",
    "您还没有负责的村": "You have no villages yet",
    "写意见并退回": "write a comment and return",
    "打开": "Open",
    "用 j / k 或点击一行，在此预览答案": "Move with j / k or click a row to preview its answers here",
    "选择全部符合筛选的 {n} 条": "Select all {n} matching the filters",
    "本页全选": "Select this page",
    "摘要": "Summary",
    "{n} 个错误": "{n} error(s)",
    "{n} 个警告": "{n} warning(s)",
    "通过并打开下一条": "Approve and open the next",
    "第 {n} / {total} 条": "{n} of {total}",
    "上一条": "Previous",
    "下一条": "Next",
    "回到队列": "Back to the queue",
    "通过并下一条": "approve and next",
    "下一条/上一条": "next/previous",
    "队列中没有待审核的提交了": "Nothing left to review in this queue",
    "帮扶措施台账": "Measures register",
    "只看先行救助待补手续": "Only relief given first with paperwork owed",
    "导出（XLSX）": "Export (XLSX)",
    "没有记录的帮扶措施": "No measure recorded",
    "帮扶台账": "Measures",
    "记录时间": "Recorded at",
    "事件": "Event",
    "关闭事件": "Close the event",
    "受灾村": "Affected villages",
    "受灾村（不选则为全部）": "Affected villages (none ticked: all)",
    "名单中的农户都已摸排": "Every household on the roster is surveyed",
    "名称（可选）": "Name (optional)",
    "导出灾情汇总（XLSX）": "Export the damage roll-up (XLSX)",
    "尚未摸排的农户（已作为平板待办）": "Households not surveyed yet (tasks on the tablets)",
    "已关闭": "Closed",
    "已关闭灾害事件 {id}": "Closed disaster event {id}",
    "已开启灾害事件 {id}": "Opened disaster event {id}",
    "已摸排 {done} 户，名单共 {total} 户": "{done} of {total} roster households surveyed",
    "开启": "Open",
    "开启灾害事件": "Open a disaster event",
    "开始日期": "Start date",
    "灾害事件": "Disaster events",
    "灾害类型": "Disaster type",
    "编号": "Id",
    "该事件已开启": "That event is open already",
    "请填写灾害开始日期": "Give the disaster's start date",
    "还没有灾害事件": "No disaster event yet",
    "进行中": "Open",
    "名单户数": "Roster households",
    "已摸排户数": "Surveyed",
    "未摸排户数": "Not yet surveyed",
    "倒房户数": "Houses collapsed",
    "严重损坏户数": "Houses severely damaged",
    "倒塌间数": "Rooms collapsed",
    "严重损坏间数": "Rooms severely damaged",
    "一般损坏间数": "Rooms with minor damage",
    "转移安置人数": "People relocated",
    "死亡人数": "Deaths",
    "失踪人数": "Missing",
    "重伤人数": "Seriously injured",
    "轻伤人数": "Lightly injured",
    "直接经济损失（元）": "Direct loss (yuan)",
    "已由乡镇调整（{by}，{at}）：计算结果为{computed}。理由：{reason}": (
        "Set by the township ({by}, {at}); computed: {computed}. Reason: {reason}"
    ),
    "调整风险等级": "Override the tier",
    "取消调整，按计算结果": "Remove the override (use the computed tier)",
    "理由（必填）": "Reason (required)",
    "保存调整": "Save the override",
    "下一步": "Next",
    "下一步“{step}”由{who}记录": "The next step, {step}, is recorded by {who}",
    "仍须补办": "Still owed",
    "以下监测户经评议，拟标注风险消除，现予公示。如有异议请向村委会或乡镇反映。": (
        "After review, the households below are to be marked as risk eliminated; "
        "this notice invites objections to the village committee or the township."
    ),
    "先行救助（手续后补）": "Relief given first (paperwork to follow)",
    "先行纳入（后补程序）": "Include now (steps to follow)",
    "公告日期": "Announced on",
    "农户详情": "Household details",
    "县乡村振兴局": "County bureau",
    "启动监测对象识别": "Start the identification",
    "尚未记录帮扶措施": "No measure recorded yet",
    "已先行纳入": "Included first",
    "已先行纳入（{day}）": "Included first ({day})",
    "已完成": "Done",
    "帮扶责任人": "Official in charge",
    "当前": "Now",
    "待我处理": "Waiting for me",
    "待补手续": "Paperwork owed",
    "措施": "Measure",
    "日期": "Date",
    "未办": "Not yet",
    "村两委": "Village committee",
    "此前的识别": "Earlier identifications",
    "步骤": "Step",
    "第 {n} 轮": "Cycle {n}",
    "系统": "System",
    "绿色通道：先行纳入监测": "Green channel: include in monitoring now",
    "记录": "Record",
    "记录人": "Recorded by",
    "记录方": "Recorded by (role)",
    "识别进度、帮扶措施": "Identification progress and measures",
    "该户目前没有识别任务（高风险户自动预警；中风险户由乡镇启动识别）": (
        "No identification for this household "
        "(a high tier is flagged at once; the township starts one for a medium tier)"
    ),
    "责任单位": "Responsible unit",
    "部门比对结果": "What the departments' data show",
    "金额（元）": "Amount (yuan)",
    "防止返贫监测对象风险消除公示": "Public notice: monitored households to be marked risk eliminated",
    "预警日期": "Flagged on",
    "风险消除条件": "Conditions for risk elimination",
    # frame
    "防贫 · 乡镇审核": "Fangpin · township review",
    "仪表盘": "Dashboard",
    "审核队列": "Review queue",
    "农户": "Households",
    "监测识别": "Identification",
    "公示名单": "Public notice",
    "导出": "Export",
    "退出": "Log out",
    "登录": "Log in",
    "用户名": "User name",
    "密码": "Password",
    "乡镇审核系统登录": "Township review: log in",
    "网格员账号请使用平板，不能登录审核系统": "Grid worker accounts use the tablet; they cannot use the review app",
    "页面已过期，请重新提交": "The page had expired; please submit again",
    "没有权限": "Not allowed",
    "没有找到": "Not found",
    "返回仪表盘": "Back to the dashboard",
    "乡镇": "Township",
    "全部": "All",
    # dashboard
    "村": "Village",
    "户数": "Households",
    "高风险": "High",
    "中风险": "Medium",
    "低风险": "Low",
    "未定级": "Not tiered",
    "逾期": "Overdue",
    "待定": "Provisional",
    "冲突": "Conflicts",
    "疑似重复": "Possible duplicates",
    "提交": "Submissions",
    "待审核": "Pending",
    "有问题": "Has issues",
    "已通过": "Approved",
    "已拒绝": "Rejected",
    "已退回": "Returned",
    "已修改待审": "Edited",
    "合计": "Total",
    "近30天每日到达的提交": "Submissions arriving per day, last 30 days",
    "已调查农户位置（按风险着色）": "Surveyed households by location (coloured by tier)",
    "没有带位置的农户": "No household has a location yet",
    "逾期未完成识别": "Identification overdue",
    "期限": "Deadline",
    # queue
    "表单": "Form",
    "状态": "State",
    "调查员": "Surveyor",
    "从": "From",
    "到": "To",
    "筛选": "Filter",
    "清除": "Clear",
    "受灾农户摸排": "Damage survey",
    "家庭情况排查": "Household survey",
    "户编号": "Household",
    "完成时间": "Completed",
    "到达时间": "Received",
    "问题": "Issues",
    "错误": "errors",
    "警告": "warnings",
    "批量通过": "Approve selected",
    "批量拒绝": "Reject selected",
    "批量退回": "Return selected",
    "意见（拒绝、退回必填，网格员会在平板上看到）": (
        "Comment (required to reject or return; the grid worker sees it on the tablet)"
    ),
    "已选 {n} 条": "{n} selected",
    "共 {n} 条": "{n} in all",
    "上一页": "Previous",
    "下一页": "Next",
    "撤销": "Undo",
    "已撤销": "Undone",
    "没有符合条件的提交": "No submission matches",
    "快捷键": "Keys",
    "j/k 上下移动，x 选中，a 通过，r 退回，Enter 打开": "j/k move, x select, a approve, r return, Enter open",
    "{action}：成功 {ok} 条，未处理 {failed} 条": "{action}: {ok} done, {failed} not done",
    "通过": "Approve",
    "拒绝": "Reject",
    "退回": "Return",
    "撤销上一步": "Undo the last action",
    "请至少选择一条": "Select at least one submission",
    # submission page
    "提交记录": "Submission",
    "版本": "Version",
    "设备": "Device",
    "答案": "Answers",
    "字段": "Field",
    "值": "Value",
    "照片": "Photos",
    "其他附件（下载）": "Other attachments (download)",
    "意见": "Comments",
    "历史": "History",
    "时间": "Time",
    "操作": "Action",
    "操作人": "By",
    "修订冲突（已归档的版本）": "Revision conflicts (archived revisions)",
    "审核": "Review",
    "第 {n} 项": "item {n}",
    "已撤回": "withdrawn",
    "审计记录": "Audit log",
    "之前": "Before",
    "之后": "After",
    "对应农户": "Household",
    "是": "yes",
    "否": "no",
    # households
    "户主": "Head",
    "人口": "Members",
    "风险": "Tier",
    "识别进度": "Identification",
    "只看逾期": "Overdue only",
    "有冲突": "With conflicts",
    "硬冲突": "Hard conflicts",
    "软冲突": "Soft conflicts",
    "有疑似重复": "With possible duplicates",
    "没有符合条件的农户": "No household matches",
    "风险等级": "Risk tier",
    "依据": "Reasons",
    "帮扶措施建议": "Suggested measures",
    "另有（较低风险的依据，其措施一并建议）": "Also (reasons of a lower tier; their measures are suggested too)",
    "待定（仍有未通过审核的提交）": "Provisional (some submissions are not approved yet)",
    "缺少的信息": "Missing information",
    "风险变化": "Tier changes",
    "原因": "Cause",
    "当前属性": "Current properties",
    "版本记录": "Version timeline",
    "来源": "Source",
    "改动": "Changes",
    "已被替代的修订": "superseded revision",
    "名册": "Roster",
    "调查": "Survey",
    "处理冲突": "Resolve conflicts",
    "属性": "Property",
    "原值（双方修改前）": "Base (before both edits)",
    "当前值": "Server (current)",
    "提交的值": "Submitted",
    "保留当前值": "Keep current",
    "确认处理": "Resolve",
    "这些修改互不冲突，确认后清除提示": "These edits do not clash; confirm to clear the flag",
    "确认已核对": "Mark as reviewed",
    "合并": "Merge",
    "不是重复": "Not a duplicate",
    "比较与合并": "Compare and merge",
    "合并后保留": "Keep after merging",
    "本户": "This household",
    "另一户": "Other household",
    "合并到本户": "Merge into this household",
    "已处理：第 {n} 版": "Done: version {n}",
    "已合并": "Merged",
    "已标记为不是重复": "Marked as not a duplicate",
    "成员": "Members",
    "别名": "Aliases",
    "{n} 人": "{n} people",
    # identification
    "已保存": "Saved",
    "已签订承诺授权书": "Consent form (承诺授权书) signed",
    "公示开始日期": "Public notice from",
    "监测对象类别": "Monitoring category",
    "收入稳定高于监测标准": "Income stably above the line",
    "进入下一步": "Next step",
    "已落实的帮扶措施": "Measures applied",
    "帮扶措施": "Measure",
    "说明": "Note",
    "记录措施": "Record measure",
    "打印": "Print",
    "防止返贫监测对象识别公示": "Public notice: identification of households for return-to-poverty monitoring",
    "以下农户经入户核实、民主评议，拟纳入防止返贫监测对象，现予公示。如有异议请向村委会或乡镇反映。": (
        "After a home visit and a village review, the households below are proposed for monitoring. "
        "Objections during the notice period go to the village committee or the township government."
    ),
    "序号": "No.",
    "公示期": "Notice period",
    "目前没有处于公示期的农户": "No household is under public notice now",
    # exports
    "没有这个工作表": "No such sheet",
    "与审核队列相同的筛选条件；XLSX 每个表单和每个重复组各一个工作表。": (
        "The review queue's filters; in XLSX one sheet per form and per repeat group."
    ),
    "含完整证件号和电话（将记入审计）": "With whole ID and phone numbers (audited)",
    # roster
    "导入花名册": "Import roster",
    "文件（.xlsx 或 .csv，全国防返贫监测信息系统导出）": "File (.xlsx or .csv exported from the national system)",
    "村（户编号只有序号时）": "Village (when 户编号 is a short number)",
    "只检查，不导入": "Check only, import nothing",
    "导入": "Import",
    "行": "Rows",
    "已导入：新建 {c} 户，更新 {u} 户，未变 {n} 户": "Imported: {c} created, {u} updated, {n} unchanged",
    "有错误，未导入任何数据": "There are errors; nothing was imported",
    "检查通过，未写入（只检查）": "All rows are right; nothing written (check only)",
    "下载检查报告（原表加错误列）": "Download the report (the file with an error column)",
    # field setup
    "平板": "Tablets",
    "网格员": "Grid worker",
    "已吊销": "revoked",
    "吊销": "Revoke",
    "入网二维码": "Enrolment QR",
    "ODK Collect 配置二维码": "ODK Collect settings QR",
    "ODK Collect 配置二维码（http，仅测试网络）": "ODK Collect settings QR (http, test networks only)",
    "本页不是通过 https 打开的：ODK Collect 只在 https 上发送密码，正式使用请通过 https 访问本系统。": (
        "This page was not opened over https: ODK Collect sends the password only over https, so serve "
        "the system over https for real use."
    ),
    "用平板扫描，一次有效；不含密码。有效至": "Scan with the tablet; works once; holds no password. Valid until",
    "返回": "Back",
    "已吊销设备 {d}": "Device {d} revoked",
    "已要求设备 {d} 重新同步": "Device {d} was asked to resync",
    "已要求重新同步": "resync asked",
    "重新同步": "Resync",
    "最近报告": "Last report",
    "应用版本": "App version",
    "上次同步": "Last sync",
    "待上传": "Waiting to upload",
    "存储": "Storage",
    "最近错误": "Last error",
    "户卡": "Door cards",
    "户号": "Household no.",
}
