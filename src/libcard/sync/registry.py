"""Reading a registry file as a stream of rows: CSV (header line, then one student per line)
or JSON Lines (one object per line). Rows are handed out one at a time, so a file of any size
is read in constant memory."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TextIO

from libcard.errors import InvalidInput
from libcard.sync.rules import COLUMNS

# A row longer than this is not a student; csv's own default is 128 KiB.
MAX_FIELD = 4096


class FileFormat(StrEnum):
    CSV = "csv"
    JSONL = "jsonl"


@dataclass(frozen=True)
class RawRow:
    """A row as read: its line number (the CSV header is line 1) and its columns, or the
    reason it cannot be read at all."""

    line: int
    columns: dict[str, Any]
    error: InvalidInput | None = None


def read_rows(stream: TextIO, file_format: FileFormat) -> Iterator[RawRow]:
    if file_format is FileFormat.JSONL:
        return _jsonl_rows(stream)
    return _csv_rows(stream)


def _csv_rows(stream: TextIO) -> Iterator[RawRow]:
    first = stream.readline().lstrip("\ufeff")
    if not first.strip():
        raise InvalidInput("registry_empty", "The file is empty; send a header line and rows.")
    # Spreadsheets in Danish write ";" (the comma is the decimal mark); others write ",".
    delimiter = max((";", ",", "\t"), key=first.count)
    header = [name.strip().lower() for name in next(csv.reader([first], delimiter=delimiter))]
    if "registry_id" not in header:
        raise InvalidInput(
            "csv_header", "The first line must name the columns, registry_id among them."
        )
    unknown = [name for name in header if name not in COLUMNS]
    if unknown:
        raise InvalidInput(
            "csv_header",
            f"Unknown column(s) {', '.join(unknown)}; the columns are {', '.join(COLUMNS)}.",
        )
    csv.field_size_limit(MAX_FIELD)
    reader = csv.reader(stream, delimiter=delimiter)
    line = 1
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            line = reader.line_num + 1
            yield RawRow(line, {}, InvalidInput("csv_format", f"Unreadable line: {error}."))
            continue
        line = reader.line_num + 1  # the header was read before the reader began
        if not any(field.strip() for field in fields):
            continue  # a blank line
        if len(fields) != len(header):
            yield RawRow(
                line,
                {},
                InvalidInput(
                    "csv_columns",
                    f"The row has {len(fields)} fields; the header names {len(header)}.",
                ),
            )
            continue
        yield RawRow(line, dict(zip(header, fields, strict=True)))


def _jsonl_rows(stream: TextIO) -> Iterator[RawRow]:
    for line, text in enumerate(stream, start=1):
        text = text.lstrip("\ufeff").strip()
        if not text:
            continue
        try:
            value = json.loads(text)
        except json.JSONDecodeError as error:
            yield RawRow(line, {}, InvalidInput("json_format", f"Not JSON: {error.msg}."))
            continue
        if not isinstance(value, dict):
            yield RawRow(line, {}, InvalidInput("json_format", "Each line must be an object."))
            continue
        if any(isinstance(item, dict | list) for item in value.values()):
            nested = InvalidInput("json_format", "Values are text, numbers or null, not lists.")
            yield RawRow(line, {}, nested)
            continue
        columns = {
            str(name): item if item is None or isinstance(item, str) else str(item)
            for name, item in value.items()
        }
        yield RawRow(line, columns)
