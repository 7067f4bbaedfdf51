"""The words of the printed report, in Chinese and English: one table, looked up by key."""

from __future__ import annotations

from gridwatch.domain import CATEGORY_NAMES

#: key -> (Chinese, English)
WORDS: dict[str, tuple[str, str]] = {
    "daily": ("日报", "Daily report"),
    "weekly": ("周报", "Weekly report"),
    "monthly": ("月报", "Monthly report"),
    "fortnight": ("双周排名", "Fortnightly ranking"),
    "scope": ("范围", "Scope"),
    "whole_town": ("全镇", "whole town"),
    "as_of": ("统计截至", "As of"),
    "generated": ("生成于", "Generated"),
    "in_progress": ("（统计期未结束）", " (period still running)"),
    "counts": ("案件数量", "Cases"),
    "opened": ("新增", "Opened"),
    "open": ("未办结", "Open"),
    "overdue": ("超期", "Overdue"),
    "closed": ("办结", "Closed"),
    "times": ("处置时长（分钟）", "Times (minutes)"),
    "accept": ("受理", "To accept"),
    "resolve": ("处置", "To resolve"),
    "n": ("件数", "Cases"),
    "median": ("中位数", "Median"),
    "p90": ("90分位", "90th percentile"),
    "escalations": ("升级", "Escalations"),
    "level": ("升至层级", "Risen to level"),
    "count": ("次数", "Times"),
    "levels": ("单元,网格,村（社区）,镇", "unit,grid,village,town"),
    "rates": ("四率", "The four rates"),
    "response": ("响应率", "Response"),
    "completion": ("办结率", "Completion"),
    "resolution": ("解决率", "Resolution"),
    "satisfaction": ("满意率", "Satisfaction"),
    "rank": ("名次", "Rank"),
    "cases": ("案件", "Cases"),
    "area": ("区域", "Area"),
    "unit": ("单元", "Unit"),
    "grid": ("网格", "Grid"),
    "village": ("村（社区）", "Village"),
    "category": ("类别", "Category"),
    "department": ("部门", "Department"),
    "by": ("按{}", "By {}"),
    "lowest": ("（末 {} 名）", " (lowest {})"),
    "mediation": ("矛盾纠纷调解", "Dispute mediation"),
    "disputes": ("纠纷案件", "Dispute cases"),
    "with_outcome": ("有调解结果", "With an outcome"),
    "mediated": ("调解成功", "Mediated"),
    "success_rate": ("调解成功率", "Success rate"),
    "people": ("人员", "People"),
    "person": ("姓名", "Person"),
    "on_time_rate": ("按时办结率", "On-time closure"),
    "reopen_rate": ("返工率", "Reopen rate"),
    "accept_hours": ("平均受理时长（小时）", "Mean hours to accept"),
    "ranking": ("双周排名", "Fortnightly ranking"),
    "bottom": ("末位（倒数）", "The lowest"),
    "position": ("倒数名次", "From the bottom"),
    "score": ("得分", "Score"),
    "formula": (
        "得分 = 按时办结率×{on_time_rate} − 超期件数×{overdue}"
        " − 返工率×{reopen_rate} − 平均受理小时×{accept_hours}",
        "score = on-time rate x {on_time_rate} - overdue x {overdue}"
        " - reopen rate x {reopen_rate} - mean hours to accept x {accept_hours}",
    ),
    "term_on_time": ("按时办结", "On time"),
    "term_overdue": ("超期", "Overdue"),
    "term_reopen": ("返工", "Reopen"),
    "term_accept": ("受理时长", "Accept"),
    "not_ranked": ("不参与排名（案件少于 {} 件）", "Not ranked (fewer than {} cases)"),
    "named_twice": ("累计两次及以上被通报", "Named {} times or more in total"),
    "fortnights": ("通报的双周", "Fortnights named"),
    "none": ("无", "none"),
    "recorded": (
        "本期名单已记录，不再改写",
        "This fortnight's list is recorded and never rewritten",
    ),
    "provisional": ("统计期未结束，名单为暂定", "Period still running: the list is provisional"),
    "devices_offline": ("设备离线（日常巡查）", "Devices offline (daily patrol)"),
    "device": ("设备", "Device"),
    "kind": ("类型", "Kind"),
    "camera": ("摄像头", "camera"),
    "sensor": ("传感器", "sensor"),
    "state": ("状态", "State"),
    "last_seen": ("最后在线", "Last seen"),
    "hours_offline": ("离线小时", "Hours offline"),
    "points": ("积分", "Points"),
    "earned": ("本期获得", "Earned"),
    "lost": ("本期扣减", "Lost"),
    "redeemed": ("本期兑换", "Redeemed"),
    "balance": ("余额", "Balance"),
    "chart_per_day": ("每日新增案件（按类别）", "Cases opened per day, by category"),
    "chart_on_time": ("各村按时办结率", "On-time closure rate per village"),
    "no_data": ("无数据", "no data"),
}


def word(key: str, lang: str) -> str:
    zh, en = WORDS[key]
    return zh if lang == "zh" else en


class Words:
    """``w("key")``: the report's words in one language."""

    def __init__(self, lang: str) -> None:
        self.lang = lang

    def __call__(self, key: str) -> str:
        return word(key, self.lang)

    def category(self, cat: str) -> str:
        return category_name(cat, self.lang)


def category_name(cat: str, lang: str) -> str:
    zh, en = CATEGORY_NAMES.get(cat, (cat, cat))
    return zh if lang == "zh" else en
