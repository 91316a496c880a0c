"""The quarterly notice as people receive it: the paragraph, the XLSX attachment table
(各镇、各部门"领导信箱"办理情况统计表) and a bar chart of rates by unit. Chat, the CLI and tests share
these; nothing here talks to Telegram."""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal
from functools import lru_cache
from importlib import resources
from pathlib import Path

from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter

from locales import N_, Translator
from models.notice import Notice
from models.stats import Figures, Period, quarter_of
from models.tables import UnitKind

QUARTER_WORDS = (N_("first"), N_("second"), N_("third"), N_("fourth"))
COLUMNS = (N_("No."), N_("Unit"), N_("Assigned"), N_("Closed"), N_("Handling rate"), N_("Closed on time"),
           N_("On-time rate"), N_("Open"), N_("Overdue"))
WIDTHS = (6, 22, 10, 10, 10, 11, 12, 8, 8)


def _percent(value: Decimal | None) -> str:
    return f"{value}%" if value is not None else "—"


def when(period: Period, t: Translator) -> str:
    """The period as a notice opens: 2019年第一季度."""
    start = period.start
    if period == quarter_of(start):
        return t("In the {quarter} quarter of {year}", quarter=t(QUARTER_WORDS[(start.month - 1) // 3]), year=start.year)
    if period.start.day == 1 and period.end == _month_end(start):
        return t("In {year}-{month:02d}", year=start.year, month=start.month)
    if (period.start.month, period.start.day, period.end.month, period.end.day) == (1, 1, 12, 31) and period.start.year == period.end.year:
        return t("In {year}", year=start.year)
    return t("From {start} to {end}", start=period.start.isoformat(), end=period.end.isoformat())


def _month_end(day: dt.date) -> dt.date:
    following = dt.date(day.year + (day.month == 12), 1 if day.month == 12 else day.month + 1, 1)
    return following - dt.timedelta(days=1)


def _listing(items: list[str], t: Translator) -> str:
    if len(items) <= 1:
        return "".join(items)
    return t("{first} and {last}", first=t(", ").join(items[:-1]), last=items[-1])


def notice_paragraph(notice: Notice, t: Translator) -> str:
    result = notice.report
    total, towns, departments = result.total, result.towns, result.departments
    text = t(
        "{when}, {total} valid letters were received and {done} closed, a handling rate of {rate}.",
        when=when(result.period, t), total=total.assigned, done=total.done, rate=_percent(total.rate),
    )
    text += t(
        " Of these, {towns} were passed to the towns and {towns_done} closed, a rate of {towns_rate}; "
        "{departments} were passed to departments and {departments_done} closed, a rate of {departments_rate}.",
        towns=towns.assigned, towns_done=towns.done, towns_rate=_percent(towns.rate),
        departments=departments.assigned, departments_done=departments.done, departments_rate=_percent(departments.rate),
    )
    if notice.topics:
        text += t(" The letters mainly concerned {topics}.", topics=_listing(notice.topics, t))
    if notice.prompt:
        text += t(" {units} handled their letters promptly.", units=t(", ").join(notice.prompt))
    if notice.lagging:
        text += t(" {units} lagged in handling their letters.", units=t(", ").join(notice.lagging))
    return text


def _row(sheet, values, *, bold: bool = False, fill: str | None = None) -> None:
    sheet.append(list(values))
    thin = Side(style="thin")
    for cell in sheet[sheet.max_row]:
        cell.border = Border(left=thin, right=thin, top=thin, bottom=thin)
        cell.alignment = Alignment(horizontal="center", vertical="center")
        if bold:
            cell.font = Font(bold=True)
        if fill:
            cell.fill = PatternFill("solid", fgColor=fill)


def _figure_cells(figures: Figures) -> list:
    def rate(value: Decimal | None):
        return float(value / 100) if value is not None else "—"

    return [figures.assigned, figures.done, rate(figures.rate), figures.on_time, rate(figures.on_time_rate), figures.open, figures.overdue]


def workbook_bytes(notice: Notice, t: Translator, as_of: dt.date) -> bytes:
    result = notice.report
    book = Workbook()
    sheet = book.active
    sheet.title = t("Handling")[:31]
    sheet.append([t("Leader mailbox handling by town and department")])
    sheet.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(COLUMNS))
    sheet["A1"].font = Font(bold=True, size=16)
    sheet["A1"].alignment = Alignment(horizontal="center")
    sheet.append([t("{period}; figures of {date}", period=when(result.period, t), date=as_of.isoformat())])
    sheet.merge_cells(start_row=2, start_column=1, end_row=2, end_column=len(COLUMNS))
    sheet["A2"].alignment = Alignment(horizontal="center")
    _row(sheet, [t(c) for c in COLUMNS], bold=True, fill="DDDDDD")
    header_row = sheet.max_row
    for kind, subtotal, label in ((UnitKind.TOWN, result.towns, t("Towns")), (UnitKind.DEPARTMENT, result.departments, t("Departments"))):
        units = [u for u in result.units if u.kind == kind]
        for number, unit in enumerate(units, start=1):
            _row(sheet, [number, unit.name, *_figure_cells(unit.figures)])
        _row(sheet, ["", t("Subtotal ({group})", group=label), *_figure_cells(subtotal)], bold=True, fill="F2F2F2")
    _row(sheet, ["", t("Total"), *_figure_cells(result.total)], bold=True, fill="DDDDDD")
    for row in sheet.iter_rows(min_row=header_row + 1):
        for index in (4, 6):  # the two rate columns
            if isinstance(row[index].value, float):
                row[index].number_format = "0.0%"
    for index, width in enumerate(WIDTHS, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = width
    sheet.freeze_panes = sheet.cell(row=header_row + 1, column=1)
    sheet.print_title_rows = f"{header_row}:{header_row}"
    sheet.page_setup.orientation = "landscape"
    sheet.page_setup.paperSize = sheet.PAPERSIZE_A4
    sheet.page_setup.fitToWidth = 1
    sheet.page_setup.fitToHeight = 0
    sheet.sheet_properties.pageSetUpPr.fitToPage = True
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


@lru_cache(maxsize=1)
def _cjk_font() -> Path:
    """Noto Sans CJK SC, shipped in the `mplfonts` package the project installs: no system font
    is assumed, so the chart reads the same on any server."""
    return Path(str(resources.files("mplfonts") / "fonts" / "NotoSansCJKsc-Regular.otf"))


def chart_bytes(notice: Notice, t: Translator) -> bytes:
    import matplotlib

    matplotlib.use("Agg")  # no screen on a server
    from matplotlib import font_manager
    from matplotlib import pyplot as plt

    font = font_manager.FontProperties(fname=str(_cjk_font()))
    units = [u for u in notice.report.units if u.figures.assigned]
    units.sort(key=lambda u: (u.kind != UnitKind.TOWN, u.position))
    height = max(3.0, 0.38 * len(units) + 1.5)
    figure, axes = plt.subplots(figsize=(8, height), dpi=120)
    try:
        colours = ["#2f6db5" if u.kind == UnitKind.TOWN else "#d9822b" for u in units]
        rates = [float(u.figures.rate or 0) for u in units]
        positions = range(len(units))
        axes.barh(list(positions), rates, color=colours)
        axes.set_yticks(list(positions), [u.name for u in units], fontproperties=font)
        axes.invert_yaxis()
        axes.set_xlim(0, 112)  # room for the "100.0%" labels
        axes.set_xlabel(t("Handling rate (%)"), fontproperties=font)
        axes.set_title(t("Handling rate by unit, {period}", period=when(notice.report.period, t)), fontproperties=font, loc="left")
        for position, rate in zip(positions, rates, strict=True):
            axes.text(rate + 1, position, f"{rate:.1f}%", va="center", fontsize=8)
        overall = notice.report.total.rate
        if overall is not None:
            axes.axvline(float(overall), color="#555555", linestyle="--", linewidth=1)
        from matplotlib.patches import Patch

        axes.legend(handles=[Patch(color="#2f6db5", label=t("Towns")), Patch(color="#d9822b", label=t("Departments"))],
                    prop=font, loc="lower right", bbox_to_anchor=(1.0, 1.0), ncol=2, frameon=False)  # above the bars
        figure.tight_layout()
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
    finally:
        plt.close(figure)
    return buffer.getvalue()
