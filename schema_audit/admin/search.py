"""Changelist input as hostile: a bounded search, run as one expression, and no NUL bytes.

Django's search turns N words into N groups of LIKE over every search field; 50,000 words
drove one PostgreSQL backend to 22 GB. Here a search has at most MAX_TERMS words and
MAX_CHARS characters, and whatever its word count it is one `document ~* ALL(patterns)`
with the patterns as one bound array, so the plan does not grow with it.
"""

from __future__ import annotations

import re

from django.db.models import BooleanField, Func, QuerySet, Value
from django.utils.text import smart_split, unescape_string_literal

MAX_TERMS = 10
MAX_CHARS = 200
FIELD_SEPARATOR = "\x1f"  # between fields, so a word never matches across two of them
PREFIX_MARK = "\x1e"  # before each `^field` (matched at its start only, e.g. a hash prefix)
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")


class SearchRefused(ValueError):
    """A search too long to run; the message says why and what to do."""


def nul_parameters(query) -> list[str]:
    """Names of query parameters whose name or value holds a NUL byte (no row can hold one)."""
    return [
        name
        for name, values in query.lists()
        if "\x00" in name or any("\x00" in v for v in values)
    ]


def terms(search: str) -> list[str]:
    """The words of a search; SearchRefused when over MAX_CHARS or MAX_TERMS."""
    if len(search) > MAX_CHARS:
        raise SearchRefused(
            f"Search not run: {len(search):,} characters, over the {MAX_CHARS} allowed. "
            "Search for fewer or shorter words, or use the filters."
        )
    if _CONTROL_RE.search(search):
        raise SearchRefused("Search not run: it contains a control character.")
    words = []
    for bit in smart_split(search):
        if bit.startswith(('"', "'")) and bit[0] == bit[-1] and len(bit) > 1:
            bit = unescape_string_literal(bit)
        if bit:
            words.append(bit)
    if len(words) > MAX_TERMS:
        raise SearchRefused(
            f"Search not run: {len(words)} words, over the {MAX_TERMS} allowed. "
            "Search for fewer words, or use the filters."
        )
    return words


class _MatchesAll(Func):
    """`document ~* ALL(patterns)`: true when every pattern matches, one node in the plan."""

    output_field = BooleanField()

    def __init__(self, document, patterns: list[str]):
        super().__init__(document)
        self.patterns = patterns

    def as_sql(self, compiler, connection, **extra):
        sql, params = compiler.compile(self.source_expressions[0])
        return f"({sql}) ~* ALL(%s)", (*params, self.patterns)


def _concat(separator: str, fields: list[str]) -> Func:
    # concat_ws skips NULLs, so an empty field adds nothing a word could match.
    return Func(Value(separator), *fields, function="concat_ws")


def matching(queryset: QuerySet, search_fields: list[str], words: list[str]) -> QuerySet:
    """Rows where every word appears in a search field (or starts a `^field`), any case."""
    anywhere = [field.lstrip("=@") for field in search_fields if not field.startswith("^")]
    prefixed = [field[1:] for field in search_fields if field.startswith("^")]
    document = _concat(FIELD_SEPARATOR, anywhere)
    if prefixed:
        document = Func(
            document, Value(PREFIX_MARK), _concat(PREFIX_MARK, prefixed), function="concat"
        )
    patterns = [_pattern(word, bool(prefixed)) for word in words]
    return queryset.filter(_MatchesAll(document, patterns))


def _pattern(word: str, prefixed: bool) -> str:
    # re.escape only backslashes punctuation, which PostgreSQL's regex reads as literal.
    literal = re.escape(word)
    if not prefixed:
        return literal
    return f"^[^{PREFIX_MARK}]*{literal}|{PREFIX_MARK}{literal}"
