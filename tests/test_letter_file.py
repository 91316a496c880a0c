"""Letter files (CSV in three encodings, XLSX): every row read, every bad row reported with its line
and the column as written, whole-file problems raised, big files streamed. Pure: no database."""

from __future__ import annotations

import datetime as dt
import random
import re
import tracemalloc
import zipfile
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell

from models.letter_file import (
    DUPLICATE_COLUMN,
    EMPTY_FILE,
    FORMULA,
    HEADERS,
    MISSING_COLUMNS,
    NO_HEADER,
    NOT_A_TABLE,
    REPEATED_ID,
    ROW_TOO_LONG,
    TOO_MANY_COLUMNS,
    UNDECODABLE,
    UNREADABLE_LINE,
    FileRow,
    LetterFileError,
    RowProblem,
    normalize_header,
    read_letter_file,
)
from models.letter_input import FIELDS
from models.tables import LetterStatus
from models.unit_resolver import UnitRef, UnitResolver
from models.units import read_units_file

TZ = ZoneInfo("Asia/Shanghai")
NOW = dt.datetime(2026, 1, 15, 12, 0, tzinfo=TZ)
UNITS = [
    UnitRef(i + 1, s.name, s.kind.value, tuple(s.aliases))
    for i, s in enumerate(read_units_file(Path("bot/data/pingli-units.yaml")))
]
UNIT_ID = {unit.name: unit.id for unit in UNITS}
RESOLVER = UnitResolver(UNITS)

NOT_A_DATE = "is not a date and time (e.g. 2019-03-05 10:00)"
REQUIRED = "is required"


def read(path: Path) -> list[FileRow]:
    return list(read_letter_file(path, tz=TZ, resolver=RESOLVER, now=NOW))


def write(tmp_path: Path, text: str, *, encoding: str = "utf-8", name: str = "letters.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def file_error(path: Path) -> LetterFileError:
    with pytest.raises(LetterFileError) as caught:
        read(path)
    return caught.value


def problems_by_line(rows: list[FileRow]) -> dict[int, list[tuple[str, str]]]:
    return {row.line: [(p.column, p.message) for p in row.problems] for row in rows if row.problems}


CHINESE_FILE = (
    "编号,标题,内容,姓名,电话,来信时间,类型\n"
    "PL-001,村道路灯不亮,八仙镇某村路灯坏了三个月,张三,13800000000,2019-03-05 10:00,求助\n"
    "PL-002,学校收费问题,询问学费标准,李四,,2019-03-06 09:30,咨询\n"
)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030"])
def test_csv_with_chinese_headers_in_each_encoding(tmp_path, encoding):
    path = write(tmp_path, CHINESE_FILE, encoding=encoding)
    if encoding == "gb18030":
        with pytest.raises(UnicodeDecodeError):
            path.read_bytes().decode("utf-8")  # really not UTF-8: the fallback is exercised

    rows = read(path)

    assert [row.line for row in rows] == [2, 3]
    assert all(row.problems == () for row in rows)
    first, second = (row.record for row in rows)
    assert first.external_id == "PL-001"  # the BOM did not stick to the first header
    assert first.title == "村道路灯不亮"
    assert first.content == "八仙镇某村路灯坏了三个月"
    assert (first.sender_name, first.sender_phone) == ("张三", "13800000000")
    assert first.received_at == dt.datetime(2019, 3, 5, 10, 0, tzinfo=TZ)
    assert (first.type, second.type) == ("求助", "咨询")
    assert first.status is LetterStatus.NEW and first.unit_id is None
    assert second.sender_phone is None


def test_english_headers_in_another_order_with_an_unknown_column(tmp_path):
    path = write(
        tmp_path,
        "Remarks,received_at, *Title* ,UNIT,external_id,content,Assigned_At\n"
        "ignore me,2019-03-05 10:00,路面塌陷,县交通局,E-1,公路边坡塌了,2019-03-05 14:00\n",
    )

    [row] = read(path)

    assert row.problems == ()
    assert row.record.title == "路面塌陷"
    assert row.record.external_id == "E-1"
    assert row.record.content == "公路边坡塌了"
    assert row.record.unit_id == UNIT_ID["县交通局"]
    assert row.record.status is LetterStatus.ASSIGNED  # a unit and no status column: assigned
    assert row.record.assigned_at == dt.datetime(2019, 3, 5, 14, 0, tzinfo=TZ)


def test_headers_normalize_and_cover_every_field():
    assert set(HEADERS.values()) == set(FIELDS)
    assert len(HEADERS) == 2 * len(FIELDS)
    assert HEADERS["来信时间"] == "received_at" and HEADERS["received_at"] == "received_at"
    assert normalize_header("\ufeff 标题 ") == "标题"
    assert normalize_header("**来信时间*") == "来信时间"
    assert normalize_header("ＴＩＴＬＥ") == "title"  # full-width letters (NFKC)
    assert normalize_header("\u3000＊Sender_Name\u3000") == "sender_name"


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("2019-03-05 10:00", dt.datetime(2019, 3, 5, 10, 0, tzinfo=TZ)),
        ("2019/3/5 10:00", dt.datetime(2019, 3, 5, 10, 0, tzinfo=TZ)),
        ("2019年3月5日", dt.datetime(2019, 3, 5, 0, 0, tzinfo=TZ)),
        ("2019-03-05T10:00:00+08:00", dt.datetime(2019, 3, 5, 10, 0, tzinfo=TZ)),
        ("2019-03-05T02:00:00Z", dt.datetime(2019, 3, 5, 10, 0, tzinfo=TZ)),
    ],
)
def test_date_forms(tmp_path, written, expected):
    path = write(tmp_path, f"标题,来信时间\n来信,{written}\n")

    [row] = read(path)

    assert row.problems == ()
    assert row.record.received_at == expected
    assert row.record.received_at.utcoffset() is not None


def test_history_row_becomes_a_done_record_with_its_unit(tmp_path):
    path = write(
        tmp_path,
        "编号,标题,内容,来信时间,办理单位,状态,交办时间,签收时间,办结时间,答复内容\n"
        "H-1,饮水困难,自来水停了一周,2019-03-05 10:00,八仙镇,已办结,"
        "2019-03-05 15:00,2019-03-06 09:00,2019-03-12 17:30,已协调水厂恢复供水\n",
    )

    [row] = read(path)

    assert row.problems == ()
    record = row.record
    assert record.status is LetterStatus.DONE
    assert record.unit_id == UNIT_ID["八仙镇"]
    assert record.assigned_at == dt.datetime(2019, 3, 5, 15, 0, tzinfo=TZ)
    assert record.accepted_at == dt.datetime(2019, 3, 6, 9, 0, tzinfo=TZ)
    assert record.done_at == dt.datetime(2019, 3, 12, 17, 30, tzinfo=TZ)
    assert record.reply == "已协调水厂恢复供水"


def test_one_bad_row_among_good_ones(tmp_path):
    path = write(
        tmp_path,
        "编号,标题,来信时间\n"
        "A1,好的一行,2019-03-05 10:00\n"
        "A2,坏的一行,2019-13-45\n"
        "A3,又一行好的,2019-03-07 10:00\n",
    )

    rows = read(path)

    assert [row.line for row in rows] == [2, 3, 4]
    assert rows[0].record.external_id == "A1" and rows[2].record.external_id == "A3"
    assert rows[1].record is None
    assert rows[1].problems == (RowProblem(3, "来信时间", NOT_A_DATE, {}),)


def test_every_bad_row_is_reported(tmp_path):
    path = write(
        tmp_path,
        "编号,标题,来信时间,类型,办理单位\n"
        "B1,,2019-03-05 10:00,,\n"  # no title
        "B2,好的,2019-03-05 10:00,建议,\n"
        "B3,类型不对,2019-03-05 10:00,闲聊,\n"
        "B4,来自未来,2030-01-01 10:00,,\n"
        "B5,不认识的单位,2019-03-05 10:00,,火星办\n"
        "B6,两处错误,昨天,闲聊,\n",
    )

    rows = read(path)

    assert len(rows) == 6
    assert [row.line for row in rows if row.record is not None] == [3]
    assert problems_by_line(rows) == {
        2: [("标题", REQUIRED)],
        4: [("类型", "must be one of {choices}")],
        5: [("来信时间", "is in the future")],
        6: [("办理单位", "is not a known unit")],
        7: [("来信时间", NOT_A_DATE), ("类型", "must be one of {choices}")],
    }


def test_a_field_without_a_column_is_named_by_both_its_names(tmp_path):
    path = write(tmp_path, "标题,来信时间,办理单位,状态\n已办结但没有时间,2019-03-05 10:00,八仙镇,已办结\n")

    [row] = read(path)

    assert row.record is None
    assert {(p.column, p.message) for p in row.problems} == {
        ("交办时间|assigned_at", "is required for a letter that was assigned"),
        ("办结时间|done_at", "is required for a letter that was closed"),
    }


def test_another_field_named_in_a_problem_is_named_by_its_column(tmp_path):
    path = write(tmp_path, "标题,Received_At,办理单位,交办时间\n倒序,2019-03-05 10:00,八仙镇,2019-03-04 10:00\n")

    [row] = read(path)

    assert row.problems == (RowProblem(2, "交办时间", "is earlier than {other}", {"other": "Received_At"}),)


def test_duplicate_external_id_in_the_file(tmp_path):
    path = write(
        tmp_path,
        "编号,标题,来信时间\n"
        "D1,第一封,2019-03-05 10:00\n"
        "D2,第二封,2019-03-05 11:00\n"
        " D1 ,重复的,2019-03-05 12:00\n"
        "D2,重复且日期坏,坏日期\n",
    )

    rows = read(path)

    assert [row.record is not None for row in rows] == [True, True, False, False]
    assert rows[2].problems == (RowProblem(4, "编号", REPEATED_ID, {"line": 2}),)
    assert rows[3].problems == (
        RowProblem(5, "编号", REPEATED_ID, {"line": 3}),
        RowProblem(5, "来信时间", NOT_A_DATE, {}),
    )


@pytest.mark.parametrize(
    ("header", "missing"),
    [("编号,内容", "标题|title、来信时间|received_at"), ("title,content", "来信时间|received_at")],
)
def test_missing_required_column_is_a_file_error(tmp_path, header, missing):
    path = write(tmp_path, f"{header}\nX,Y\n")

    error = file_error(path)

    assert error.message == MISSING_COLUMNS
    assert error.values == {"columns": missing}


def test_a_repeated_column_is_a_file_error(tmp_path):
    error = file_error(write(tmp_path, "标题,来信时间,Title\nA,2019-03-05 10:00,B\n"))

    assert error.message == DUPLICATE_COLUMN
    assert error.values == {"column": "标题|title"}


def test_random_bytes_are_not_a_table(tmp_path):
    path = tmp_path / "letters.csv"
    path.write_bytes(random.Random(20260115).randbytes(8192))

    assert file_error(path).message == NOT_A_TABLE


def test_a_pdf_is_not_a_table(tmp_path):
    path = tmp_path / "letters.csv"
    path.write_bytes(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj << /Type /Catalog >> endobj\n")

    assert file_error(path).message == NOT_A_TABLE


def test_a_zip_that_is_not_a_workbook_is_not_a_table(tmp_path):
    path = tmp_path / "letters.xlsx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("readme.txt", "标题,来信时间\n")

    assert file_error(path).message == NOT_A_TABLE


def test_empty_file(tmp_path):
    path = tmp_path / "letters.csv"
    path.write_bytes(b"")

    assert file_error(path).message == EMPTY_FILE


@pytest.mark.parametrize("text", ["\n\n  \n", ",,,\n;;\n", "A1,路灯坏了,2019-03-05 10:00\n"])
def test_no_header_row(tmp_path, text):
    assert file_error(write(tmp_path, text)).message == NO_HEADER


@pytest.mark.parametrize(
    "data",
    [
        "标题,来信时间\n".encode() + b"\xff\xfe\xff\n",  # neither UTF-8 nor GB18030
        b"\xef\xbb\xbf" + "标题,来信时间\n".encode() + b"\xc3\x28\n",  # a BOM, then bad UTF-8
        "标题,来信时间\n".encode("utf-16"),  # UTF-16 is not supported
    ],
)
def test_undecodable_text(tmp_path, data):
    path = tmp_path / "letters.csv"
    path.write_bytes(data)

    assert file_error(path).message == UNDECODABLE


def test_utf8_character_split_across_read_chunks_stays_utf8(tmp_path):
    header = "标题,来信时间\n".encode()
    row = "中文标题甲乙丙,2019-03-05 10:00\n".encode()
    count = (1 << 20) // len(row) + 2
    padding = b""  # leading blanks of the first title, stripped when read
    while not 0x80 <= (header + padding + row * count)[1 << 20] <= 0xBF:
        padding += b" "  # until the 1 MiB read boundary falls inside a three-byte character
    path = tmp_path / "letters.csv"
    path.write_bytes(header + padding + row * count)

    rows = read(path)

    assert len(rows) == count
    assert {row.record.title for row in rows} == {"中文标题甲乙丙"}


@pytest.mark.parametrize("delimiter", ["\t", ";"])
def test_delimiter_is_sniffed_from_the_header(tmp_path, delimiter):
    text = delimiter.join(["标题", "来信时间", "内容"]) + "\n" + delimiter.join(["分隔", "2019-03-05 10:00", "a,b,c"]) + "\n"

    [row] = read(write(tmp_path, text))

    assert row.problems == ()
    assert (row.record.title, row.record.content) == ("分隔", "a,b,c")


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_multiline_quoted_cells_keep_physical_line_numbers(tmp_path, newline):
    text = newline.join([
        "编号,标题,内容,来信时间",
        'M1,第一封,"第一行',
        "第二行",
        '第三行",2019-03-05 10:00',
        "M2,第二封,简单,2019-03-05 11:00",
        "",
        'M3,第三封,"a',
        'b",坏日期',
        "",
    ])

    rows = read(write(tmp_path, text))

    assert [row.line for row in rows] == [2, 5, 7]
    assert rows[0].record.content == "第一行\n第二行\n第三行"
    assert rows[1].record.external_id == "M2"
    assert rows[2].problems == (RowProblem(7, "来信时间", NOT_A_DATE, {}),)


def test_blank_rows_are_skipped_and_lines_still_count(tmp_path):
    text = "\n\n标题,来信时间\n\n , \n第一,2019-03-05 10:00\n,,\n第二,坏\n"

    rows = read(write(tmp_path, text))

    assert [row.line for row in rows] == [6, 8]
    assert rows[0].record.title == "第一"
    assert rows[1].problems == (RowProblem(8, "来信时间", NOT_A_DATE, {}),)


def test_a_very_long_cell_is_a_row_problem(tmp_path):
    long_content = "长" * 60_000
    text = f"标题,内容,来信时间\n正常,短,2019-03-05 10:00\n过长,{long_content},2019-03-05 10:00\n"

    rows = read(write(tmp_path, text))

    assert rows[0].record is not None
    assert rows[1].problems == (RowProblem(3, "内容", "is too long (at most {limit} characters)", {"limit": 50_000}),)


def test_a_cell_beyond_what_csv_can_read_is_a_file_error_with_its_line(tmp_path):
    text = "标题,内容,来信时间\n正常,短,2019-03-05 10:00\n坏,\"" + "x" * 200_000 + "\",2019-03-05 10:00\n"

    error = file_error(write(tmp_path, text))

    assert error.message == UNREADABLE_LINE
    assert error.values["line"] == 3


def test_more_than_200_columns_is_a_file_error(tmp_path):
    header = ",".join(["标题", "来信时间"] + [f"extra{i}" for i in range(199)])

    error = file_error(write(tmp_path, header + "\nA,2019-03-05 10:00\n"))

    assert error.message == TOO_MANY_COLUMNS
    assert error.values == {"limit": 200}


def test_a_row_longer_than_200_cells_is_a_file_error(tmp_path):
    long_row = ",".join(["A", "2019-03-05 10:00"] + ["v"] * 199)

    error = file_error(write(tmp_path, f"标题,来信时间\nOK,2019-03-05 10:00\n{long_row}\n"))

    assert error.message == ROW_TOO_LONG
    assert error.values == {"line": 3, "limit": 200}


# XLSX --------------------------------------------------------------------------------------------


def test_xlsx_with_datetime_int_id_and_formula(tmp_path):
    book = Workbook(write_only=True)
    sheet = book.create_sheet("来信")
    sheet.append([])  # the header is the first non-empty row, here row 2
    sheet.append(["编号", "标题", "内容", "来信时间", "办理单位", "交办时间", "备注"])
    received, assigned = dt.datetime(2019, 3, 5, 10, 0), dt.datetime(2019, 3, 5, 16, 0)
    sheet.append([1001, "  河道淤堵  ", "请清理", received, "八仙", assigned, "=1+1"])
    sheet.append([1002, '=CONCAT("自动", "标题")', "公式标题", dt.date(2019, 3, 6), None, None, None])
    sheet.append([])
    sheet.append([1001.0, "重复编号", "", "2019-03-07 08:00", None, None, None])
    path = tmp_path / "upload.bin"  # recognized by content, not by name
    book.save(path)

    rows = read(path)

    assert [row.line for row in rows] == [3, 4, 6]
    first = rows[0].record
    assert rows[0].problems == ()
    assert first.external_id == "1001"
    assert first.title == "河道淤堵"
    assert first.received_at == dt.datetime(2019, 3, 5, 10, 0, tzinfo=TZ)
    assert first.unit_id == UNIT_ID["八仙镇"]
    assert first.assigned_at == dt.datetime(2019, 3, 5, 16, 0, tzinfo=TZ)  # the formula under 备注 is not used
    assert rows[1].record is None
    assert rows[1].problems == (RowProblem(4, "标题", FORMULA, {}),)  # reported once: not also "is required"
    assert rows[2].problems == (RowProblem(6, "编号", REPEATED_ID, {"line": 3}),)


def test_xlsx_numbers_are_dates_in_time_columns_and_text_elsewhere(tmp_path):
    """Excel keeps dates as day numbers; a 年月日 format openpyxl does not know (built-in format 31)
    leaves the number. A nonsense letter "111" or a phone typed into a cell is a number too."""
    book = Workbook(write_only=True)
    sheet = book.create_sheet()
    sheet.append(["平利县领导信箱来信登记表"])  # a title row above the header
    sheet.append(["编号", "标题", "内容", "电话", "来信时间", "办理单位", "交办时间", "办结时间", "答复内容"])
    dated = WriteOnlyCell(sheet, value=43529.4375)  # 2019-03-05 10:30
    dated.number_format = 'yyyy"年"m"月"d"日"'
    sheet.append([7, 111, 222.5, 13812345678, dated, "八仙镇", 43529.5, 43529, 333])
    sheet.append([8, "早于1970年", "", None, 1234, None, None, None, None])
    path = tmp_path / "letters.xlsx"
    book.save(path)

    first, second = read(path)

    assert first.line == 3 and first.problems == (), first.problems
    record = first.record
    assert (record.external_id, record.title, record.content, record.sender_phone, record.reply) == ("7", "111", "222.5", "13812345678", "333")
    assert record.received_at == dt.datetime(2019, 3, 5, 10, 30, tzinfo=TZ)
    assert record.assigned_at == dt.datetime(2019, 3, 5, 12, 0, tzinfo=TZ)
    assert record.done_at == record.assigned_at  # the day alone, the day of the assignment: not before it
    assert second.problems == (RowProblem(4, "来信时间", NOT_A_DATE, {}),)


def test_xlsx_text_starting_with_equals_is_a_formula(tmp_path):
    book = Workbook(write_only=True)
    sheet = book.create_sheet()
    sheet.append(["title", "received_at"])
    cell = WriteOnlyCell(sheet, value="=A1+B1")
    cell.data_type = "s"  # stored as text, as some exporters do
    sheet.append([cell, dt.datetime(2019, 3, 5, 10, 0)])
    path = tmp_path / "letters.xlsx"
    book.save(path)

    [row] = read(path)

    assert row.problems == (RowProblem(2, "title", FORMULA, {}),)


def test_xlsx_formula_with_a_calculated_value_gives_the_value(tmp_path):
    book = Workbook(write_only=True)
    sheet = book.create_sheet()
    sheet.append(["标题", "来信时间"])
    sheet.append(["=UPPER(\"x\")", dt.datetime(2019, 3, 5, 10, 0)])
    written = tmp_path / "written.xlsx"
    book.save(written)
    # What Excel does on saving: keep the formula and store its result next to it.
    path = tmp_path / "saved.xlsx"
    with zipfile.ZipFile(written) as source, zipfile.ZipFile(path, "w") as target:
        for item in source.infolist():
            data = source.read(item)
            if item.filename.startswith("xl/worksheets/"):
                calculated = r'<c r="A2" t="str"><f>\2</f><v>Excel算好的标题</v>'.encode()
                data, count = re.subn(rb'<c r="A2"([^>]*)><f>(.*?)</f><v\s*/>', calculated, data)
                assert count == 1
            target.writestr(item, data)

    [row] = read(path)

    assert row.problems == ()
    assert row.record.title == "Excel算好的标题"


# Streaming ---------------------------------------------------------------------------------------


def test_a_100000_row_file_streams(tmp_path):
    path = tmp_path / "big.csv"
    content = "这是一封很长的来信，" * 30  # 300 characters a row: holding every record would take far more
    with path.open("w", encoding="utf-8", newline="") as handle:
        handle.write("编号,标题,内容,来信时间\n")
        for i in range(100_000):
            handle.write(f"S{i},第{i}封,{content},2019-03-05 10:00\n")
    size = path.stat().st_size

    tracemalloc.start()
    try:
        count = good = 0
        last_line = 0
        for row in read_letter_file(path, tz=TZ, resolver=RESOLVER, now=NOW):
            count += 1
            good += row.record is not None
            last_line = row.line
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert count == good == 100_000
    assert last_line == 100_001
    assert peak < size / 4, f"peak {peak} bytes for a {size}-byte file: rows are being held"
