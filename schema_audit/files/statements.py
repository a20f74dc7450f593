"""Splitting SQL text into statements with PostgreSQL's own parser (pglast). No database."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from schema_audit.exceptions import InvalidMigration
from schema_audit.files.source import body_start, line_of

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
# The first tokens of those statements, and their first two letters; only a statement
# starting with one is parsed alone.
_FIRST_LETTERS = frozenset({"be", "st", "co", "en", "ro", "ab", "pr"})
_FIRST_TOKENS = frozenset(
    {"BEGIN_P", "START", "COMMIT", "END_P", "ROLLBACK", "ABORT_P", "PREPARE"}
)


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
        first = _first_word(text, start, end)
        statements.append(Statement(text[first:end].strip(), line_of(text, first), item.stmt))
    return statements


def spans(text: str) -> list[tuple[int, int]] | None:
    """Where each top-level statement of `text` starts (its first token, after comments) and
    ends (before its `;`), by PostgreSQL's parser; None for text it refuses."""
    from pglast import parser

    try:
        slices = parser.split(text, with_parser=True, only_slices=True)
    except parser.ParseError:
        return None
    return [(_first_word(text, piece.start, piece.stop), piece.stop) for piece in slices]


def _first_word(text: str, start: int, stop: int) -> int:
    """Offset of the first token of `text[start:stop]` after comments and white space, by
    PostgreSQL's scanner: a `--` comment ends at a carriage return as well as at a newline."""
    size = 256  # a growing window: a statement may be megabytes long
    while True:
        end = min(stop, start + size)
        rest = text[start:end].lstrip()
        comment = rest[:2] in ("--", "/*")
        if not comment and (len(rest) > 1 or end == stop):
            return end - len(rest)  # `-` or `/` alone at the window's end may start one
        if comment:
            from pglast import parser

            try:
                tokens = parser.scan(text[start:end])
            except parser.ParseError:
                tokens = []  # the window ends inside a comment
            for token in tokens:
                if token.name not in _COMMENTS:
                    return start + token.start
        if end == stop:
            return stop
        size *= 8


def _first_token(text: str, start: int, stop: int) -> str:
    """The scanner's name of the token at `start` (`COMMIT`, `BEGIN_P`, `IDENT`, ...)."""
    from pglast import parser

    for end in (min(stop, start + 32), stop):
        try:
            tokens = parser.scan(text[start:end])
        except parser.ParseError:
            continue  # the prefix ends inside a comment or string: scan the statement
        return tokens[0].name if tokens else ""
    return ""


def transaction_control(text: str) -> list[TransactionControl]:
    """Every top-level BEGIN, START TRANSACTION, COMMIT, END, ROLLBACK, ABORT, PREPARE
    TRANSACTION, COMMIT/ROLLBACK PREPARED of `text`, as PostgreSQL reads it.

    The one test of every mode (apply, dry run, trace, plan, lint, patch, rollback SQL), so
    none can disagree. PostgreSQL's parser splits the text (where comments, strings, dollar
    quotes and statements end: a `--` comment ends at a carriage return too; PL/pgSQL bodies
    and `BEGIN ATOMIC ... END` are parts of one statement); a statement whose first token is
    a transaction keyword is then parsed alone. Text it cannot parse (a newer server's syntax)
    goes to its scanner instead.
    """
    # The header (`-- Rollback: ...`) is comments: only what follows it can hold a statement.
    if not _KEYWORDS_RE.search(text, body_start(text)):
        return []
    from pglast import parser

    try:
        # Slices only: a parse tree of a whole big file costs a hundred times more.
        slices = parser.split(text, with_parser=True, only_slices=True)
    except parser.ParseError:
        return _by_scanner(text)
    found = []
    for piece in slices:
        start = _first_word(text, piece.start, piece.stop)
        if text[start : start + 2].lower() not in _FIRST_LETTERS:
            continue  # cheaper than the scanner, for the usual statement
        if _first_token(text, start, piece.stop) not in _FIRST_TOKENS:
            continue
        node = parser.parse_sql(text[start : piece.stop])[0].stmt
        kind = getattr(getattr(node, "kind", None), "name", "")
        if type(node).__name__ == "TransactionStmt" and kind not in _HARMLESS:
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


# Words that start or mark every statement PostgreSQL refuses inside a transaction block
# (PreventInTransactionBlock); text without any of them holds none of those statements.
_OUTSIDE_WORDS_RE = re.compile(
    r"concurrently|vacuum|database|tablespace|system|cluster|subscription", re.IGNORECASE
)
_ALWAYS_OUTSIDE = frozenset(
    {
        "CreatedbStmt",
        "DropdbStmt",
        "CreateTableSpaceStmt",
        "DropTableSpaceStmt",
        "AlterSystemStmt",
        "CreateSubscriptionStmt",
        "DropSubscriptionStmt",
    }
)
_WHOLE_DATABASE = frozenset({"REINDEX_OBJECT_DATABASE", "REINDEX_OBJECT_SYSTEM"})


def outside_transaction(text: str) -> bool:
    """True when `text` holds a statement PostgreSQL refuses inside a transaction block
    (CREATE INDEX CONCURRENTLY, VACUUM, CREATE DATABASE, ...), as its parser reads it.

    Text that does not parse is left to the run, which reports the syntax error.
    """
    if not _OUTSIDE_WORDS_RE.search(text):
        return False
    from pglast import parser

    try:
        raw = parser.parse_sql(text)
    except parser.ParseError:
        return False
    return any(_refused_in_transaction(item.stmt) for item in raw)


def _refused_in_transaction(node) -> bool:
    kind = type(node).__name__
    if kind in _ALWAYS_OUTSIDE:
        return True
    if kind in ("IndexStmt", "DropStmt"):
        return bool(node.concurrent)
    if kind == "VacuumStmt":
        return bool(node.is_vacuumcmd)
    if kind == "ClusterStmt":
        return node.relation is None
    if kind == "ReindexStmt":
        concurrently = any(p.defname == "concurrently" for p in node.params or ())
        return concurrently or node.kind.name in _WHOLE_DATABASE
    if kind == "AlterTableStmt":
        return any(
            getattr(getattr(cmd, "def_", None), "concurrent", False) for cmd in node.cmds or ()
        )
    return False
