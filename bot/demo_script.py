"""What the demo plays: the county's people, and the letters of its first quarter (2026 Q1).

The bot goes into service on Monday 2 March 2026. January and February were tracked by hand in a
ledger, which the admin imports on the first morning; March's letters come from the website through
the intake API and are handled in chat. Together they make the notice's figures: 47 valid letters
assigned, 35 done (74.5%); towns 29 with 21 done (72.4%); departments 18 with 14 done (77.8%).

Letters, names and phone numbers are invented; the units are Pingli County's.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from zoneinfo import ZoneInfo

TZ = ZoneInfo("Asia/Shanghai")
YEAR = 2026


def at(month: int, day: int, hour: int = 9, minute: int = 0) -> dt.datetime:
    return dt.datetime(YEAR, month, day, hour, minute, tzinfo=TZ)


@dataclass(frozen=True)
class Member:
    user_id: int
    name: str
    role: str  # what /invite takes: a unit or "leader"; "admin" for the bootstrap admin


ADMIN = Member(910001, "王芳", "admin")
LEADER = Member(910002, "张明", "leader")
LIAISONS = {unit: Member(910011 + i, name, unit) for i, (unit, name) in enumerate((
    ("八仙镇", "李梅"), ("长安镇", "陈刚"), ("城关镇", "刘洋"), ("县农业农村局", "赵敏"), ("县住建局", "孙磊"),
    ("县公安局", "周强"), ("县教科局", "吴静"),
))}

# The hand-kept ledger of January and February: per unit, letters done and letters still open.
# With March's four letters handled in chat (八仙镇, 城关镇 and 县住建局 one done each, 县农业农村局 one
# left open) they make the quarter's plan: 八仙镇 10/5, 长安镇 8/6, 城关镇 11/10, 县农业农村局 5/3,
# 县住建局 6/4, 县公安局 5/5, 县教科局 2/2.
LEDGER_PLAN = (
    ("八仙镇", 4, 5), ("长安镇", 6, 2), ("城关镇", 9, 1), ("县农业农村局", 3, 1),
    ("县住建局", 3, 2), ("县公安局", 5, 0), ("县教科局", 2, 0),
)
SUBJECTS = {
    "八仙镇": ["{village}村饮水管道破裂，停水多日", "{village}村通村道路塌方无人修", "{village}村低保户评定不公开",
              "{village}村茶园补贴迟迟未发", "{village}村垃圾堆放污染环境"],
    "长安镇": ["{village}村易地搬迁安置房漏水", "{village}村养殖场噪音扰民", "{village}村班车停运出行难",
              "{village}村卫生院看病难", "{village}村贫困户帮扶不到位"],
    "城关镇": ["{street}路灯不亮", "{street}小区物业乱收费", "{street}占道经营影响通行",
              "{street}老旧小区改造进度慢", "{street}排污管道堵塞"],
    "县农业农村局": ["种植补贴发放标准咨询", "耕地被占用无人处理", "养殖技术培训何时开班"],
    "县住建局": ["房屋鉴定为危房何时改造", "小区工地夜间施工扰民", "住房公积金提取咨询"],
    "县公安局": ["身份证补办需要哪些材料", "电信诈骗被骗钱款追回", "户口迁移手续咨询"],
    "县教科局": ["幼儿园收费是否合理", "学生入学划片咨询"],
}
VILLAGES = ["龙头", "太山", "东河", "药妇沟", "千佛洞", "松树", "枫坪", "马盘"]
STREETS = ["滨河路", "中心街", "新城区", "红旗路", "北门街"]
SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗"
GIVEN = ["建国", "秀英", "伟", "芳", "军", "丽", "强", "敏", "静", "磊", "洋", "勇", "艳", "杰", "娟"]
REPLIES = ["已安排人员现场核实处理，并电话回复来信人。", "经核实，问题已解决，来信人表示满意。",
           "已按政策答复来信人，相关事项正在落实。", "已协调相关部门处理完毕。"]

LEDGER_HEADERS = ["编号", "标题", "内容", "姓名", "电话", "来信时间", "类型", "办理单位", "状态", "交办时间",
                  "签收时间", "办结时间", "答复内容", "无效原因"]
LEDGER_FILE_NAME = "领导信箱台账-2026年1-2月.xlsx"


def _workdays(start: dt.date, end: dt.date) -> list[dt.date]:
    """The office's working days in the span, by the State Council calendar the bot itself uses."""
    from scheduler.workdays import WorkdayCalendar

    calendar = WorkdayCalendar()
    day, days = start, []
    while day <= end:
        if calendar.is_workday(day)[0]:
            days.append(day)
        day += dt.timedelta(days=1)
    return days


def ledger_rows() -> list[list[object]]:
    """January and February as the county kept them by hand: every letter with its unit, status and
    times, plus one screened out as a duplicate. The same rows every run."""
    rng = random.Random(YEAR)
    days = _workdays(dt.date(YEAR, 1, 5), dt.date(YEAR, 2, 26))
    rows: list[list[object]] = []
    number = 0
    for unit, done, still_open in LEDGER_PLAN:
        for index in range(done + still_open):
            number += 1
            is_done = index < done
            # Open letters are February's (handed over late in the ledger's time); done ones spread over both months.
            day = rng.choice(days[-8:] if not is_done else days[:-3])
            received = dt.datetime.combine(day, dt.time(rng.randint(8, 17), rng.choice((5, 20, 35, 50))), TZ)
            assigned = received + dt.timedelta(hours=rng.randint(1, 4))
            accepted = assigned + dt.timedelta(hours=rng.randint(1, 5))
            finished = accepted + dt.timedelta(days=rng.randint(1, 3)) if is_done else None
            subject = rng.choice(SUBJECTS[unit]).format(village=rng.choice(VILLAGES), street=rng.choice(STREETS))
            sender = rng.choice(SURNAMES) + rng.choice(GIVEN)
            phone = f"13{rng.randint(0, 9)}{rng.randint(10000000, 99999999)}"
            rows.append([
                f"PL2026-{number:04d}", subject, f"{sender}反映：{subject}，请尽快解决。", sender, phone,
                _text(received), rng.choice(("求助", "投诉", "咨询", "建议")), unit, "已办结" if is_done else "已签收",
                _text(assigned), _text(accepted), _text(finished) if finished else "",
                rng.choice(REPLIES) if is_done else "", "",
            ])
    rows.append([
        "PL2026-0099", "八仙镇龙头村饮水管道破裂，停水多日（重复来信）", "同一来信人重复提交。", "王建国", "13912345678",
        _text(at(1, 20, 10)), "求助", "", "无效", "", "", "", "", "重复来信",
    ])
    return rows


def _text(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M")


def ledger_workbook() -> bytes:
    import io

    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.title = "台账"
    sheet.append(LEDGER_HEADERS)
    for row in ledger_rows():
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


@dataclass(frozen=True)
class WebLetter:
    key: str
    external_id: str
    title: str
    content: str
    sender_name: str
    sender_phone: str
    received_at: dt.datetime
    type: str


WEB_LETTERS = {
    "streetlight": WebLetter(
        "streetlight", "PL2026-0101", "八仙镇龙头村村道路灯坏了三个月",
        "八仙镇龙头村村道的路灯坏了三个月，晚上村民出行很不安全，孩子放学要摸黑走山路。<请转八仙镇>",
        "杨秀英", "13812341234", at(3, 3, 8, 40), "求助",
    ),
    "water": WebLetter(
        "water", "PL2026-0102", "新城区小区停水无人管",
        "我住新城区阳光小区，这周已经停水三次，每次都没有通知。物业说是长安镇管的水厂，不归他们管。",
        "黄伟", "13698761111", at(3, 3, 9, 10), "投诉",
    ),
    "dangerous-house": WebLetter(
        "dangerous-house", "PL2026-0103", "老屋鉴定为危房，改造补助何时到位",
        "我家老屋去年鉴定为危房，申请了改造补助，到现在还没有消息。",
        "林杰", "13787654321", at(3, 3, 9, 30), "咨询",
    ),
    "subsidy": WebLetter(
        "subsidy", "PL2026-0104", "耕地地力保护补贴少发了",
        "我家承包耕地12亩，今年的耕地地力保护补贴只发了8亩的，请农业部门核实。",
        "郭勇", "15991234567", at(3, 4, 10, 15), "投诉",
    ),
    "advert": WebLetter(
        "advert", "PL2026-0105", "低价出售茶叶，欢迎来电",
        "明前茶低价出售，欢迎各位领导品尝，电话联系。",
        "某茶商", "18800001111", at(3, 4, 11, 0), "建议",
    ),
}
