"""One neutralisation for every CSV the project writes: no cell runs as a spreadsheet formula.

Spreadsheets evaluate a cell that starts with `=`, `+`, `-`, `@` or `|` (DDE), also in their
full-width forms and after any blank or control character (a no-break or ideographic space, a
vertical tab, a form feed, a zero-width character): such a cell gets a leading quote, which
every spreadsheet shows as text. A cell starting with a control character is quoted in any case.
SQL comments (`--`) are not exempt: `--2+3` is a formula too.
"""

from __future__ import annotations

import unicodedata
from datetime import datetime

_FORMULA_START = frozenset("=+-@|＝＋－＠｜")
# Blanks (Zs, Zl, Zp), controls (Cc) and invisible formatting characters (Cf).
_SKIPPED = frozenset({"Zs", "Zl", "Zp", "Cc", "Cf"})


def _formula_like(text: str) -> bool:
    if text[:1] and unicodedata.category(text[0]) in ("Cc", "Cf"):
        return True
    for char in text:
        if unicodedata.category(char) not in _SKIPPED:
            return char in _FORMULA_START
    return False


def cell(value: object) -> object:
    """A value as written to a CSV cell: text neutralised, datetimes ISO 8601, None empty."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, str) and _formula_like(value):
        return "'" + value
    return value
