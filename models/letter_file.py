"""Letters from a file: CSV (UTF-8, UTF-8 with BOM, GB18030) or XLSX, headers in English or Chinese.

`read_letter_file` streams the file row by row (an import of 100,000 rows runs in bounded memory) and
yields one `FileRow` per non-blank data row: the `LetterRecord`, or every problem of that row with its
line and the column header as written in the file. Whole-file problems (not a table, no header row,
required columns missing…) raise `LetterFileError`. Messages are gettext msgids plus values, so each
surface shows them in its reader's language. The caller imports nothing when any row has a problem.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import itertools
import math
import re
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import BinaryIO
from zipfile import BadZipFile, ZipFile
from zoneinfo import ZoneInfo

from locales import N_
from models.letter_input import FIELDS, LIMITS, FieldError, LetterRecord, build_record, clean_text, without_init
from models.unit_resolver import UnitResolver

# (canonical field, Chinese header): the English header is the field name itself.
_CHINESE = (
    ("external_id", "编号"), ("title", "标题"), ("content", "内容"), ("sender_name", "姓名"),
    ("sender_phone", "电话"), ("received_at", "来信时间"), ("type", "类型"), ("unit", "办理单位"),
    ("status", "状态"), ("assigned_at", "交办时间"), ("accepted_at", "签收时间"), ("done_at", "办结时间"),
    ("reply", "答复内容"), ("invalid_reason", "无效原因"),
)
assert tuple(name for name, _ in _CHINESE) == FIELDS
LABELS: Mapping[str, str] = MappingProxyType({name: f"{zh}|{name}" for name, zh in _CHINESE})
"""How a field's column is named in a message: 来信时间|received_at."""
HEADERS: Mapping[str, str] = MappingProxyType(
    {**{name: name for name, _ in _CHINESE}, **{zh: name for name, zh in _CHINESE}}
)
"""Normalized header text → canonical field."""
REQUIRED_COLUMNS = ("title", "received_at")
MAX_COLUMNS = 200

EMPTY_FILE = N_("the file is empty")
NOT_A_TABLE = N_("the file is not a CSV or XLSX file")
UNDECODABLE = N_("the file is not UTF-8 or GB18030 text")
NO_HEADER = N_("the file has no header row naming its columns")
MISSING_COLUMNS = N_("required columns are missing: {columns}")
DUPLICATE_COLUMN = N_("the column {column} appears more than once")
TOO_MANY_COLUMNS = N_("the file has more than {limit} columns")
ROW_TOO_LONG = N_("line {line} has more than {limit} cells")
UNREADABLE_LINE = N_("line {line} cannot be read: a cell is longer than {limit} characters or a quote is not closed")
REPEATED_ID = N_("repeats line {line}")
FORMULA = N_("is a formula, not a value")

_CHUNK = 1 << 20
_ZIP_MAGIC = b"PK\x03\x04"
_NOT_TABLE_MAGIC = (b"%PDF", b"\xd0\xcf\x11\xe0", b"PK\x05\x06", b"PK\x07\x08")  # PDF, old .xls/.doc, odd zips
_WIDE_BOMS = (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
_DELIMITERS = (",", "\t", ";")  # the first wins a tie
_HEADER_EDGES = re.compile(r"^[\s*]+|[\s*]+$")
_FORMULA_TAG = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?f[\s>/]")


class LetterFileError(Exception):
    """The file as a whole cannot be read; `message` is a msgid, `values` fill its placeholders."""

    def __init__(self, message: str, values: Mapping[str, object] | None = None):
        super().__init__(message, dict(values or {}))
        self.message = message
        self.values: dict[str, object] = dict(values or {})

    def __str__(self) -> str:
        return self.message.format(**self.values) if self.values else self.message


@dataclass(frozen=True)
class RowProblem:
    line: int
    column: str  # the header as written in the file, or the field name when the file has no such column
    message: str  # a msgid
    values: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class FileRow:
    line: int
    record: LetterRecord | None  # None exactly when there are problems
    problems: tuple[RowProblem, ...] = ()


def normalize_header(text: object) -> str:
    """ " *来信时间 " → "来信时间", "Title" → "title", full-width forms folded (NFKC)."""
    value = unicodedata.normalize("NFKC", str(text).replace("\ufeff", ""))
    return _HEADER_EDGES.sub("", value).lower()


@dataclass(frozen=True)
class _Column:
    index: int
    name: str  # canonical field
    written: str  # the header as written


# A source row: (line where it starts, cell values, indexes of cells holding an unevaluated formula).
_SourceRow = tuple[int, Sequence[object], frozenset[int]]


def read_letter_file(path: Path, *, tz: ZoneInfo, resolver: UnitResolver, now: dt.datetime) -> Iterator[FileRow]:
    """Yield one `FileRow` per non-blank data row, in file order; raise `LetterFileError` (possibly
    after some rows, e.g. for a row longer than the limit) when the file as a whole is unusable.
    Nothing is read before the first `next()`."""
    path = Path(path)
    with path.open("rb") as handle:
        head = handle.read(8)
    if not head:
        raise LetterFileError(EMPTY_FILE)
    serials = None
    if head.startswith(_ZIP_MAGIC):
        source, serials = _xlsx_rows(path), _serial_epoch(path)
    elif head.startswith(_NOT_TABLE_MAGIC):
        raise LetterFileError(NOT_A_TABLE)
    elif head.startswith(_WIDE_BOMS):
        raise LetterFileError(UNDECODABLE)
    else:
        source = _csv_rows(path)
    try:
        yield from _file_rows(source, tz=tz, resolver=resolver, now=now, serials=serials)
    finally:
        source.close()


def _file_rows(
    source: Iterator[_SourceRow], *, tz: ZoneInfo, resolver: UnitResolver, now: dt.datetime, serials: dt.datetime | None = None
) -> Iterator[FileRow]:
    """`serials`: a workbook's epoch, when the rows come from one (see `_workbook_numbers`)."""
    columns = _find_header(source)
    by_field = {column.name: column for column in columns}
    order = {column.name: position for position, column in enumerate(columns)}
    seen_ids: dict[str, int] = {}

    plan = [(column.index, column.name) for column in columns]
    reach = max(index for index, _ in plan) + 1  # rows at least this wide have every column
    for line, cells, formulas in source:
        for cell in cells:  # _is_blank, inline: this loop runs for every row of a large file
            if cell is not None and (not isinstance(cell, str) or cell.strip()):
                break
        else:
            continue
        if len(cells) > MAX_COLUMNS and _width(cells) > MAX_COLUMNS:
            raise LetterFileError(ROW_TOO_LONG, {"line": line, "limit": MAX_COLUMNS})
        problems: list[tuple[str, RowProblem]] = []
        width = len(cells)
        if not formulas and width >= reach:  # the common case, in one expression
            raw = {name: value.strip() if isinstance(value, str) else value for index, name in plan for value in (cells[index],)}
        elif formulas:
            raw = {}
            for column in columns:
                value = cells[column.index] if column.index < width else None
                if isinstance(value, str):
                    value = value.strip()
                if column.index in formulas:
                    problems.append((column.name, RowProblem(line, column.written, FORMULA, {})))
                    value = None
                raw[column.name] = value
        else:
            raw = {}
            for index, name in plan:
                value = cells[index] if index < width else None
                raw[name] = value.strip() if isinstance(value, str) else value

        if serials is not None:
            _workbook_numbers(raw, serials)
        result = build_record(raw, tz=tz, resolver=resolver, now=now, history=True)
        if problems or not isinstance(result, LetterRecord):
            flagged = {name for name, _ in problems}
            if not isinstance(result, LetterRecord):
                problems.extend(
                    (error.field, _problem(line, error, by_field)) for error in result if error.field not in flagged
                )
            key = _id_key(raw.get("external_id"))
        else:
            flagged = set()
            key = result.external_id  # what _id_key gives for a row that passed

        if key is not None:
            first = seen_ids.get(key)
            if first is None:
                seen_ids[key] = line
            elif "external_id" not in flagged:
                repeat = RowProblem(line, by_field["external_id"].written, REPEATED_ID, {"line": first})
                problems.append(("external_id", repeat))

        if problems:
            problems.sort(key=lambda item: order.get(item[0], len(order)))  # stable: file column order
            yield FileRow(line, None, tuple(problem for _, problem in problems))
        else:
            yield _passed(line, result)


def _passed(line: int, record: LetterRecord) -> FileRow:
    """`FileRow(line, record, ())`, built once per row of a large file (see `without_init`)."""
    return without_init(FileRow, {"line": line, "record": record, "problems": ()})


HEADER_SEARCH = 5  # non-blank rows looked at for the header: a sheet's title rows may come first


def _find_header(source: Iterator[_SourceRow]) -> list[_Column]:
    """The columns of the first non-blank row that names any; the rows above it (a sheet's title,
    平利县领导信箱来信登记表, merged across the columns) are passed over."""
    searched = 0
    for _, cells, _ in source:
        if _is_blank(cells):
            continue
        try:
            return _header(cells)
        except LetterFileError as exc:
            searched += 1
            if exc.message != NO_HEADER or searched >= HEADER_SEARCH:
                raise
    raise LetterFileError(NO_HEADER)


def _header(cells: Sequence[object]) -> list[_Column]:
    if _width(cells) > MAX_COLUMNS:
        raise LetterFileError(TOO_MANY_COLUMNS, {"limit": MAX_COLUMNS})
    columns: dict[str, _Column] = {}
    for index, cell in enumerate(cells):
        if cell is None:
            continue
        name = HEADERS.get(normalize_header(cell))
        if name is None:
            continue  # a column we do not use
        if name in columns:
            raise LetterFileError(DUPLICATE_COLUMN, {"column": LABELS[name]})
        written = str(cell).replace("\ufeff", "").strip()
        columns[name] = _Column(index, name, written)
    if not columns:
        raise LetterFileError(NO_HEADER)
    missing = [LABELS[name] for name in REQUIRED_COLUMNS if name not in columns]
    if missing:
        raise LetterFileError(MISSING_COLUMNS, {"columns": "、".join(missing)})
    return sorted(columns.values(), key=lambda column: column.index)


def _problem(line: int, error: FieldError, by_field: Mapping[str, _Column]) -> RowProblem:
    """The field's column as written, or, when the file has none, both its names (交办时间|assigned_at);
    a field named in the values ("is earlier than {other}") too."""
    column = by_field.get(error.field)
    values = dict(error.values)
    if "other" in values:  # the file's column, or both names of a field the file has no column for
        other = by_field.get(values["other"])  # type: ignore[arg-type]
        values["other"] = other.written if other is not None else LABELS.get(values["other"], values["other"])  # type: ignore[arg-type]
    return RowProblem(line, column.written if column else LABELS.get(error.field, error.field), error.message, values)


def _id_key(value: object) -> str | None:
    """The external id as build_record reads it, to find repeats even in rows with other problems."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        text = str(value)
    elif isinstance(value, float):
        text = str(int(value)) if value.is_integer() else str(value)
    elif isinstance(value, str):
        text = clean_text(value)
    else:
        return None
    return text if text and len(text) <= LIMITS["external_id"] else None


_TIMES = frozenset({"received_at", "assigned_at", "accepted_at", "done_at"})
# Serial numbers of 1970-01-01 and 9999-12-31: a number in a time column between them is a date.
_SERIALS = (25569, 2958465)
# Day 0 of a workbook's dates: 1900 (Windows; day 0 is 1899-12-30 for every day after February
# 1900, which Excel counts with a 29th) or 1904 (old Mac files).
_WINDOWS_1900, _MAC_1904 = dt.datetime(1899, 12, 30), dt.datetime(1904, 1, 1)


def _workbook_numbers(raw: dict[str, object], epoch: dt.datetime) -> None:
    """Numbers as a spreadsheet holds what people typed: in a time column a date (Excel keeps
    dates as day numbers, and shows 年月日 formats that openpyxl does not know as numbers), in any
    other column text (111, a nonsense letter; a phone number)."""
    for name, value in raw.items():
        if value.__class__ not in (int, float):
            continue
        if name in _TIMES:
            if _SERIALS[0] <= value <= _SERIALS[1]:  # type: ignore[operator]
                raw[name] = epoch + dt.timedelta(seconds=round(value * 86400))  # type: ignore[operator]
        elif value.__class__ is int or value.is_integer():  # type: ignore[union-attr]
            raw[name] = str(int(value))  # type: ignore[arg-type]
        elif math.isfinite(value):  # type: ignore[arg-type]
            raw[name] = str(value)


def _serial_epoch(path: Path) -> dt.datetime:
    """The day a workbook counts its dates from: 1900 (Windows) or 1904 (old Mac files)."""
    try:
        with ZipFile(path) as archive, archive.open("xl/workbook.xml") as book:
            head = book.read(_CHUNK)
    except (BadZipFile, KeyError, OSError, RuntimeError, ValueError, EOFError):
        return _WINDOWS_1900  # openpyxl will say what is wrong with the file
    return _MAC_1904 if re.search(rb'date1904="(?:1|true)"', head) else _WINDOWS_1900


def _is_blank(cells: Sequence[object]) -> bool:
    return all(cell is None or (isinstance(cell, str) and not cell.strip()) for cell in cells)


def _width(cells: Sequence[object]) -> int:
    """The number of cells up to the last non-blank one."""
    width = len(cells)
    while width and (cells[width - 1] is None or (isinstance(cells[width - 1], str) and not cells[width - 1].strip())):
        width -= 1
    return width


# CSV ---------------------------------------------------------------------------------------------


def _csv_rows(path: Path) -> Iterator[_SourceRow]:
    encoding = _csv_encoding(path)
    with path.open("r", encoding=encoding, newline="") as text:
        skipped = 0
        for first_line in text:
            if first_line.strip("".join(_DELIMITERS) + " \r\n\ufeff"):
                break
            skipped += 1
        else:
            return  # only blank lines: no header row
        reader = csv.reader(itertools.chain([first_line], text), delimiter=_sniff_delimiter(first_line))
        while True:
            line = skipped + reader.line_num + 1  # the physical line where the next record starts
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error:
                raise LetterFileError(UNREADABLE_LINE, {"line": line, "limit": csv.field_size_limit()}) from None
            yield line, cells, frozenset()


def _csv_encoding(path: Path) -> str:
    """UTF-8 with BOM, else UTF-8 when the whole file decodes as UTF-8, else GB18030; each checked
    over the whole file in chunks, so a bad byte deep in the file is found before any row is read."""
    with path.open("rb") as handle:
        bom = handle.read(len(codecs.BOM_UTF8)) == codecs.BOM_UTF8
    for encoding in ("utf-8-sig",) if bom else ("utf-8", "gb18030"):
        if _decodes(path, encoding):
            return encoding
    raise LetterFileError(UNDECODABLE)


def _decodes(path: Path, encoding: str) -> bool:
    decoder = codecs.getincrementaldecoder(encoding)()
    with path.open("rb") as handle:
        try:
            while chunk := handle.read(_CHUNK):
                if b"\x00" in chunk:
                    raise LetterFileError(NOT_A_TABLE)  # binary; no text table holds NUL bytes
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return False
    return True


def _sniff_delimiter(line: str) -> str:
    counts = {delimiter: line.count(delimiter) for delimiter in _DELIMITERS}
    best = max(_DELIMITERS, key=lambda delimiter: counts[delimiter])  # max keeps the first of equals
    return best if counts[best] else ","


# XLSX --------------------------------------------------------------------------------------------


def _xlsx_rows(path: Path) -> Iterator[_SourceRow]:
    """Rows of the first worksheet, numbered as in Excel. Values come from `data_only=True` (the cached
    results of formulas). A formula that was never calculated (a file written by a program, not saved
    by Excel) reads there as an empty cell, so when the sheet has formulas at all a second, formula
    view of the same sheet is read in step to tell such a cell from a truly empty one."""
    from openpyxl import load_workbook

    handles: list[BinaryIO] = []
    books = []
    streams: list[Iterator[tuple]] = []
    try:
        for data_only in (True, False) if _has_formulas(path) else (True,):
            handle = path.open("rb")
            handles.append(handle)
            try:
                books.append(load_workbook(handle, read_only=True, data_only=data_only))
            except Exception:  # a zip that is not a workbook: openpyxl raises many kinds
                raise LetterFileError(NOT_A_TABLE) from None
        sheets = []
        for book in books:
            if not book.worksheets:
                return  # no worksheet: no header row
            sheet = book.worksheets[0]
            sheet.reset_dimensions()  # the stored size may be wrong; read every row there is
            sheets.append(sheet)
        streams = [_guarded(sheet.iter_rows(values_only=True)) for sheet in sheets]
        values, formulas = streams[0], (streams[1] if len(streams) > 1 else iter(()))
        for line, row in enumerate(values, start=1):
            formula_row = next(formulas, ())
            flags = set()
            cells = []
            for index, value in enumerate(row):
                if isinstance(value, str):
                    value = value.strip()
                    if value.startswith("="):
                        flags.add(index)
                elif value is None and index < len(formula_row) and formula_row[index] is not None:
                    flags.add(index)  # a formula without a calculated value
                cells.append(value)
            yield line, cells, frozenset(flags)
    finally:
        for stream in streams:
            stream.close()
        for book in books:
            book.close()
        for handle in handles:
            handle.close()


def _guarded(rows: Iterator[tuple]) -> Iterator[tuple]:
    """openpyxl's rows, with its parse errors (broken XML inside the workbook) as a file error."""
    while True:
        try:
            row = next(rows)
        except StopIteration:
            return
        except Exception:  # openpyxl raises many kinds
            raise LetterFileError(NOT_A_TABLE) from None
        yield row


def _has_formulas(path: Path) -> bool:
    """Does any worksheet of the workbook hold a formula? A streamed scan of the XML, no parsing."""
    try:
        with ZipFile(path) as archive:
            for name in archive.namelist():
                if not (name.startswith("xl/worksheets/") and name.endswith(".xml")):
                    continue
                with archive.open(name) as member:
                    tail = b""
                    while chunk := member.read(_CHUNK):
                        if _FORMULA_TAG.search(tail + chunk):
                            return True
                        tail = chunk[-32:]
    except (BadZipFile, OSError, RuntimeError, ValueError, EOFError):
        raise LetterFileError(NOT_A_TABLE) from None
    return False
