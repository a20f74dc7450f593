"""Splitting SQL text into statements with PostgreSQL's own parser (pglast). No database."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pglast import parser

from schema_audit.exceptions import InvalidMigration
from schema_audit.files.discovery import line_of


@dataclass(frozen=True)
class Statement:
    """One top-level statement: its text, the line it starts on, and its parse tree."""

    text: str
    line: int
    node: object


def parse(text: str, path: Path | str | None = None) -> list[Statement]:
    """Every statement of `text`; InvalidMigration with the line of a syntax error."""
    try:
        raw = parser.parse_sql(text)
    except parser.ParseError as exc:
        message, offset = exc.args[0], exc.args[1] if len(exc.args) > 1 else 0
        raise InvalidMigration(
            f"SQL does not parse: {message}", path, line_of(text, offset)
        ) from exc
    statements = []
    for item in raw:
        start = item.stmt_location
        end = start + item.stmt_len if item.stmt_len else len(text)
        # The parser's span of the first statement includes leading comments; skip them.
        chunk = text[start:end]
        skipped = len(chunk) - len(_strip_comments_ahead(chunk))
        statements.append(
            Statement(chunk[skipped:].strip(), line_of(text, start + skipped), item.stmt)
        )
    return statements


def _strip_comments_ahead(chunk: str) -> str:
    rest = chunk.lstrip()
    while rest.startswith(("--", "/*")):
        if rest.startswith("--"):
            newline = rest.find("\n")
            rest = "" if newline < 0 else rest[newline + 1 :]
        else:
            close = rest.find("*/")
            rest = "" if close < 0 else rest[close + 2 :]
        rest = rest.lstrip()
    return rest
