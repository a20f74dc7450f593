"""Splitting SQL text into statements with PostgreSQL's own parser (pglast). No database."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from schema_audit.exceptions import InvalidMigration
from schema_audit.files.discovery import line_of

_COMMENTS = frozenset({"SQL_COMMENT", "C_COMMENT"})
# Statements that end, start or hand off a transaction: everything but these three, which
# work inside the runner's transaction and cannot end it.
_HARMLESS = frozenset({"TRANS_STMT_SAVEPOINT", "TRANS_STMT_RELEASE", "TRANS_STMT_ROLLBACK_TO"})
_WORDS = {
    "TRANS_STMT_BEGIN": "BEGIN",
    "TRANS_STMT_START": "START TRANSACTION",
    "TRANS_STMT_COMMIT": "COMMIT",
    "TRANS_STMT_ROLLBACK": "ROLLBACK",
    "TRANS_STMT_PREPARE": "PREPARE TRANSACTION",
    "TRANS_STMT_COMMIT_PREPARED": "COMMIT PREPARED",
    "TRANS_STMT_ROLLBACK_PREPARED": "ROLLBACK PREPARED",
}
# Every such statement starts with one of these keywords, and a keyword cannot be spelled
# with escapes: text without any of them (in any case, anywhere) holds none.
_KEYWORDS_RE = re.compile(r"begin|commit|rollback|end|abort|start|prepare", re.IGNORECASE)


@dataclass(frozen=True)
class Statement:
    """One top-level statement: its text, the line it starts on, and its parse tree."""

    text: str
    line: int
    node: object


@dataclass(frozen=True)
class TransactionControl:
    """A top-level statement that would end or start the runner's transaction."""

    line: int
    words: str  # `COMMIT`, `BEGIN`, `PREPARE TRANSACTION`, ...


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
        skipped = _first_word(chunk)
        statements.append(
            Statement(chunk[skipped:].strip(), line_of(text, start + skipped), item.stmt)
        )
    return statements


def _first_word(chunk: str) -> int:
    """Offset of the first token of `chunk` after comments and white space, by PostgreSQL's
    scanner: a `--` comment ends at a carriage return as well as at a newline."""
    rest = chunk.lstrip()
    if not rest.startswith(("--", "/*")):
        return len(chunk) - len(rest)
    from pglast import parser

    for token in parser.scan(chunk):
        if token.name not in _COMMENTS:
            return token.start
    return len(chunk)


def transaction_control(text: str) -> list[TransactionControl]:
    """Every top-level BEGIN, START TRANSACTION, COMMIT, END, ROLLBACK, ABORT, PREPARE
    TRANSACTION, COMMIT/ROLLBACK PREPARED of `text`, as PostgreSQL reads it.

    The one test of every mode (apply, dry run, trace, plan, lint, patch, rollback SQL), so
    none can disagree. PostgreSQL's parser decides where comments (a `--` comment ends at a
    carriage return too), strings, dollar quotes and statements end; PL/pgSQL bodies and
    `BEGIN ATOMIC ... END` are single statements to it. Text it cannot parse (a newer
    server's syntax) goes to its scanner instead.
    """
    if not _KEYWORDS_RE.search(text):
        return []
    from pglast import parser

    try:
        raw = parser.parse_sql(text)
    except parser.ParseError:
        return _by_scanner(text)
    found = []
    for item in raw:
        node = item.stmt
        kind = getattr(getattr(node, "kind", None), "name", "")
        if type(node).__name__ == "TransactionStmt" and kind not in _HARMLESS:
            start = item.stmt_location
            start += _first_word(text[start : start + (item.stmt_len or len(text))])
            found.append(TransactionControl(line_of(text, start), _WORDS.get(kind, kind)))
    return found


def _by_scanner(text: str) -> list[TransactionControl]:
    """transaction_control from tokens: the first keyword of each statement, `;` inside a
    `BEGIN ATOMIC ... END` body (where CASE ... END nests) not ending one."""
    from pglast import parser

    try:
        tokens = [t for t in parser.scan(text) if t.name not in _COMMENTS]
    except parser.ParseError:
        return []  # an unterminated string or comment: PostgreSQL refuses the whole text
    names = [t.name for t in tokens] + ["", ""]
    found, first, depth = [], True, 0
    for index, token in enumerate(tokens):
        name = token.name
        if depth:
            depth += {"CASE": 1, "END_P": -1}.get(name, 0)
        elif name == "ASCII_59":
            first = True
            continue
        elif first and _controls(name, names[index + 1], names[index + 2]):
            word = text[token.start : token.end + 1].upper()
            found.append(TransactionControl(line_of(text, token.start), word))
        elif name == "ATOMIC" and index and names[index - 1] == "BEGIN_P":
            depth = 1
        first = False
    return found


def _controls(name: str, after: str, then: str) -> bool:
    """True when a statement starting with tokens `name after then` is transaction control."""
    if name in ("BEGIN_P", "COMMIT", "END_P", "ABORT_P"):
        return True
    if name in ("START", "PREPARE"):
        return after == "TRANSACTION"
    if name == "ROLLBACK":  # ROLLBACK [WORK | TRANSACTION] TO a savepoint is harmless
        return not (after == "TO" or after in ("WORK", "TRANSACTION") and then == "TO")
    return False
