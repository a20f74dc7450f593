"""Splitting SQL text into statements with PostgreSQL's own parser (pglast). No database."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from schema_audit.exceptions import InvalidMigration
from schema_audit.files.discovery import line_of, strip_comments_ahead


@dataclass(frozen=True)
class Statement:
    """One top-level statement: its text, the line it starts on, and its parse tree."""

    text: str
    line: int
    node: object


def parse(text: str, path: Path | str | None = None) -> list[Statement]:
    """Every statement of `text`; InvalidMigration with the line of a syntax error."""
    from pglast import parser  # deferred: importing PostgreSQL's parser costs every command

    try:
        raw = parser.parse_sql(text)
    except parser.ParseError as exc:
        message, offset = exc.args[0], exc.args[1] if len(exc.args) > 1 else 0
        raise InvalidMigration(
            f"SQL does not parse: {message}", path, line_of(text, offset), rule="parse-error"
        ) from exc
    statements = []
    for item in raw:
        start = item.stmt_location
        end = start + item.stmt_len if item.stmt_len else len(text)
        # The parser's span of the first statement includes leading comments; skip them.
        chunk = text[start:end]
        skipped = len(chunk) - len(strip_comments_ahead(chunk))
        statements.append(
            Statement(chunk[skipped:].strip(), line_of(text, start + skipped), item.stmt)
        )
    return statements
