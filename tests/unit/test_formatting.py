"""How results are told: a file's outcome, sizes, verdicts and the command's one-line texts."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from psycopg import errors

from schema_audit.cli.deploy import gcc_line, github_line
from schema_audit.cli.integrity import access_line, history_line
from schema_audit.cli.reporter import approval_note
from schema_audit.cli.terminal import escape
from schema_audit.engine.outcome import (
    Outcome,
    describe_error,
    error_line,
    failed_statement,
    failure_text,
    first_line,
)
from schema_audit.engine.verdict import big, human_size, judge
from schema_audit.files.discovery import MigrationFile, checksum
from schema_audit.files.header import parse_header

LIMITS = {"big_rows": 10_000, "big_bytes": 100 * 1024 * 1024, "slow_ms": 1000}


def mfile(version: str = "003", name: str = "v1.2_add_prefs") -> MigrationFile:
    text = f"-- Version: {version}\nSELECT 1;\n"
    return MigrationFile(
        version=version,
        name=name,
        path=Path(f"db/migrations/{version}_{name}.sql"),
        sql=text,
        checksum=checksum(text),
        header=parse_header(text),
    )


def test_outcome_as_dict_is_json_ready():
    """Every field of an outcome, under its own name."""
    outcome = Outcome("003", "v1.2_x", "failed", 41, "boom", "42P01", 7)
    assert outcome.as_dict() == {
        "version": "003",
        "name": "v1.2_x",
        "status": "failed",
        "duration_ms": 41,
        "error": "boom",
        "sqlstate": "42P01",
        "line": 7,
    }
    assert Outcome("004", "v1.3_y", "completed", 0).as_dict()["error"] is None


@pytest.mark.parametrize(
    "exc, text",
    [
        pytest.param(ValueError("boom"), "boom", id="one-line"),
        pytest.param(ValueError("  first\nsecond\n"), "first", id="several-lines"),
        pytest.param(KeyboardInterrupt(), "KeyboardInterrupt", id="no-text"),
        pytest.param(RuntimeError("   "), "RuntimeError", id="blank-text"),
    ],
)
def test_first_line(exc, text):
    """The first line of an error, or its class name when it says nothing."""
    assert first_line(exc) == text


@pytest.mark.parametrize(
    "outcome, text",
    [
        pytest.param(
            Outcome("003", "v1.2_add_prefs", "failed", 5, 'relation "x" is gone', "42P01", 4),
            "db/migrations/003_v1.2_add_prefs.sql:4: 003 v1.2_add_prefs failed "
            '[SQLSTATE 42P01]: relation "x" is gone',
            id="with-line",
        ),
        pytest.param(
            Outcome("003", "v1.2_add_prefs", "failed", 5, "deadlock detected", "40P01"),
            "db/migrations/003_v1.2_add_prefs.sql: 003 v1.2_add_prefs failed "
            "[SQLSTATE 40P01]: deadlock detected",
            id="without-line",
        ),
    ],
)
def test_failure_text(outcome, text):
    """`file:line: label failed [SQLSTATE]: message`, the line left out when unknown."""
    assert failure_text(mfile(), outcome) == text


@pytest.mark.parametrize(
    "exc, text",
    [
        pytest.param(
            errors.ActiveSqlTransaction("VACUUM cannot run inside a transaction block"),
            "VACUUM cannot run inside a transaction block\nHINT: this statement cannot run in "
            "a transaction; add the header directive `-- Transaction: none` to run the file "
            "statement by statement",
            id="25001-gets-the-directive-hint",
        ),
        pytest.param(
            errors.UndefinedTable('relation "t" does not exist\nLINE 1: ...'),
            'relation "t" does not exist',
            id="message-first-line",
        ),
        pytest.param(psycopg.OperationalError(), "OperationalError", id="no-message"),
    ],
)
def test_describe_error_without_server_diagnostics(exc, text):
    """An error raised by the client (no server diagnostics) is told by its own text."""
    assert describe_error(exc) == text


def test_error_line_is_unknown_without_a_position():
    """No statement position from the server: no line."""
    assert error_line(errors.UndefinedTable("x"), "SELECT 1;\nSELECT x;\n", first=3) is None


@pytest.mark.parametrize(
    "text, index, found",
    [
        pytest.param("SELECT 1;\nSELECT 2;\n", 1, (2, "SELECT 2"), id="second"),
        pytest.param(
            "-- header\n\nCREATE TABLE a (id int);\n", 0, (3, "CREATE TABLE a (id int)"), id="line"
        ),
        pytest.param(
            "SELECT 1;\nCREATE ROLE bob PASSWORD 'hunter2';\n",
            1,
            (2, "CREATE ROLE bob PASSWORD '********'"),
            id="password-redacted",
        ),
        pytest.param(
            "UPDATE accounts SET balance = balance + 1 WHERE id = 1;",
            0,
            (1, "UPDATE accounts SET balance = balance"),
            id="six-words",
        ),
        pytest.param(
            "SELECT aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa, bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb;",
            0,
            (1, "SELECT aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa, bbbbbbbbbbbbbb…"),  # 59 + …
            id="sixty-characters",
        ),
        pytest.param("SELECT 1;", None, None, id="index-unknown"),
        pytest.param("SELECT 1;", -1, None, id="negative"),
        pytest.param("SELECT 1;", 1, None, id="past-the-end"),
        pytest.param("SELEC 1", 0, None, id="does-not-parse"),
    ],
)
def test_failed_statement(text, index, found):
    """The line and first words of the statement that failed, passwords hidden."""
    assert failed_statement(text, index) == found


@pytest.mark.parametrize(
    "size, text",
    [
        pytest.param(0, "0 bytes", id="zero"),
        pytest.param(1023, "1023 bytes", id="under-a-kB"),
        pytest.param(1024, "1.0 kB", id="one-kB"),
        pytest.param(1536, "1.5 kB", id="kB-decimal"),
        pytest.param(8 * 1024 * 1024, "8.0 MB", id="MB"),
        pytest.param(3 * (1 << 30) + (1 << 29), "3.5 GB", id="GB"),
        pytest.param(5 * (1 << 40), "5120.0 GB", id="no-TB"),
        pytest.param(-2048, "-2.0 kB", id="negative"),
        pytest.param(-10, "-10 bytes", id="negative-bytes"),
    ],
)
def test_human_size(size, text):
    """Bytes in PostgreSQL's pg_size_pretty units, one decimal."""
    assert human_size(size) == text


@pytest.mark.parametrize(
    "rows, size, expected",
    [
        pytest.param(9_999, 0, False, id="small"),
        pytest.param(10_000, 0, True, id="rows-at-limit"),
        pytest.param(0, 100 * 1024 * 1024, True, id="bytes-at-limit"),
        pytest.param(-1, 100 * 1024 * 1024 - 1, False, id="not-yet-analyzed"),
    ],
)
def test_big(rows, size, expected):
    """A relation is big from either limit on."""
    assert big(rows, size, LIMITS) is expected


def statement(**fields) -> dict:
    base = {
        "index": 1,
        "line": 3,
        "status": "traced",
        "duration_ms": 5,
        "locks": [],
        "rewrites": [],
    }
    return {**base, **fields}


def lock(mode: str, blocks: str, rows: int, size: int, **extra) -> dict:
    return {
        "relation": "public.orders",
        "kind": "table",
        "mode": mode,
        "blocks": blocks,
        "rows": rows,
        "bytes": size,
        "held_ms": 5,
        "existing": True,
        **extra,
    }


@pytest.mark.parametrize(
    "statements, verdict, reasons",
    [
        pytest.param(
            [statement()],
            "safe",
            ["no lock that blocks reads or writes on an existing table, no rewrite"],
            id="nothing-blocking",
        ),
        pytest.param(
            [statement(status="failed", error="division by zero")],
            "review",
            ["statement 1 (line 3) fails: division by zero"],
            id="failed",
        ),
        pytest.param(
            [statement(status="not traced", reason="runs outside a transaction")],
            "review",
            ["statement 1 (line 3) not traced: runs outside a transaction"],
            id="not-traced",
        ),
        pytest.param(
            [statement(duration_ms=1500)],
            "review",
            ["statement 1 (line 3) runs 1,500 ms"],
            id="slow",
        ),
        pytest.param(
            [statement(locks=[lock("ShareLock", "writes", 10, 8192)])],
            "review",
            [
                "statement 1 (line 3) holds ShareLock on table public.orders (10 rows, "
                "8.0 kB), blocking writes, for 5 ms"
            ],
            id="small-table-lock",
        ),
        pytest.param(
            [statement(scans=True, locks=[lock("ShareLock", "writes", 50_000, 8192)])],
            "dangerous",
            [
                "statement 1 (line 3) reads every row of big table public.orders (50,000 "
                "rows, 8.0 kB) holding ShareLock, blocking writes, for 5 ms"
            ],
            id="big-table-scan",
        ),
        pytest.param(
            [statement(side_effects=["called nextval on public.s"])],
            "review",
            [
                "statement 1 (line 3) called nextval on public.s; it acted in this dry run, "
                "and the rollback did not undo it"
            ],
            id="side-effect",
        ),
    ],
)
def test_judge(statements, verdict, reasons):
    """The verdict on a traced file and its reasons, worst first."""
    trace = {"statements": statements, "locks": []}
    assert judge(trace, LIMITS) == (verdict, reasons)


@pytest.mark.parametrize(
    "text, shown",
    [
        pytest.param("plain text", "plain text", id="plain"),
        pytest.param("a\tb", "a\tb", id="tab-kept"),
        pytest.param("two\nlines", "two\\nlines", id="newline"),
        pytest.param("\x1b[2Jcleared", "\\x1b[2Jcleared", id="escape-sequence"),
        pytest.param("del\x7f", "del\\x7f", id="del"),
        pytest.param("csi\x9b", "csi\\x9b", id="c1"),
        pytest.param("abc\u202edcba", "abc\\u202edcba", id="bidi-override"),
        pytest.param("line\u2028sep", "line\\u2028sep", id="line-separator"),
        pytest.param("naïve ✓", "naïve ✓", id="unicode-kept"),
    ],
)
def test_escape(text, shown):
    """Data is shown on one line, every control character visible."""
    assert escape(text) == shown


@pytest.mark.parametrize(
    "item, required, note",
    [
        pytest.param({}, True, "", id="unknown"),
        pytest.param(
            {"approval": {"state": "approved", "approved_by": "bob"}},
            False,
            "  [approved by bob]",
            id="approved",
        ),
        pytest.param(
            {"approval": {"state": "missing", "approved_by": None}}, False, "", id="not-needed"
        ),
        pytest.param(
            {"approval": {"state": "missing", "approved_by": None}},
            True,
            "  [not approved: missing]",
            id="missing-required",
        ),
        pytest.param(
            {"approval": {"state": "stale", "approved_by": "bob"}},
            False,
            "  [not approved: stale]",
            id="stale-shown-anyway",
        ),
    ],
)
def test_approval_note(item, required, note):
    """The note after a pending file: who approved it, or why it is not approved."""
    assert approval_note(item, required) == note


FINDING = {
    "path": "db/migrations/005_v1.4_x.sql",
    "line": 12,
    "level": "error",
    "rule": "fk-on-delete",
    "message": "foreign key without ON DELETE;\n  say what happens",
}


def test_github_line_escapes_properties_and_message():
    """A workflow command whose data cannot end the command or start another."""
    finding = {**FINDING, "path": "db/m,x:y.sql", "message": "50% done\r\nnext"}
    assert github_line(finding) == (
        "::error file=db/m%2Cx%3Ay.sql,line=12,title=fk-on-delete::50%25 done%0D%0Anext"
    )
    assert github_line({**FINDING, "level": "warning"}).startswith("::warning file=")


def test_gcc_line_is_one_line():
    """`file:line:1: level: message [rule]`, the message's white space folded."""
    assert gcc_line(FINDING) == (
        "db/migrations/005_v1.4_x.sql:12:1: error: foreign key without ON DELETE; say what "
        "happens [fk-on-delete]"
    )
    assert gcc_line({**FINDING, "path": "a\nb.sql"}).startswith("a\\nb.sql:12:1: ")


@pytest.mark.parametrize(
    "history, line",
    [
        pytest.param(
            {"verified": True, "chained": 12, "unchained": 0, "head": "ab" * 32},
            "History verified: 12 events chained, head abababababababab.",
            id="verified",
        ),
        pytest.param(
            {"verified": True, "chained": 0, "unchained": 3, "head": None},
            "History verified: 0 events chained (3 from before chaining).",
            id="old-events",
        ),
        pytest.param(
            {
                "verified": False,
                "first_break": {
                    "id": 7,
                    "action": "apply",
                    "version": "003",
                    "problem": "hash differs",
                },
            },
            "History NOT verified: event 7 (apply 003): hash differs.",
            id="broken",
        ),
        pytest.param(
            {
                "verified": False,
                "first_break": {"id": 9, "action": "patch", "version": None, "problem": "gap"},
            },
            "History NOT verified: event 9 (patch): gap.",
            id="broken-without-version",
        ),
        pytest.param(
            {"verified": False, "first_break": {"id": None, "problem": "trigger missing"}},
            "History NOT verified: the event log: trigger missing.",
            id="broken-log",
        ),
    ],
)
def test_history_line(history, line):
    """One sentence on the event log's hash chain."""
    assert history_line(history) == line


@pytest.mark.parametrize(
    "access, line",
    [
        pytest.param(
            {"verified": True, "chained": 4, "unchained": 1},
            "Access log verified: 4 records chained (1 from before chaining).",
            id="verified",
        ),
        pytest.param(
            {"verified": False, "first_break": {"id": 2, "problem": "row deleted"}},
            "Access log NOT verified: record 2: row deleted.",
            id="broken",
        ),
    ],
)
def test_access_line(access, line):
    """One sentence on the access log's hash chain."""
    assert access_line(access) == line
