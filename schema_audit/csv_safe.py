"""One neutralisation for every CSV the project writes: no cell runs as a spreadsheet formula.

Spreadsheets evaluate a cell that starts with `=`, `+`, `-` or `@` (also after blanks, and in
their full-width forms), and treat a leading tab or line break as a way in; such a cell gets
a leading quote, which every spreadsheet shows as text. SQL comments (`--`) are not exempt:
`--2+3` is a formula too.
"""

from __future__ import annotations

from datetime import datetime

_FORMULA_START = frozenset("=+-@＝＋－＠")
_CONTROL_START = frozenset("\t\r\n")


def cell(value: object) -> object:
    """A value as written to a CSV cell: text neutralised, datetimes ISO 8601, None empty."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, str) and (
        value[:1] in _CONTROL_START or value.lstrip(" \t\r\n")[:1] in _FORMULA_START
    ):
        return "'" + value
    return value
