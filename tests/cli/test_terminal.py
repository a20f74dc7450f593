"""Control characters from the database or the files never reach the operator's terminal."""

from __future__ import annotations

import io

import pytest
from django.core.management.base import OutputWrapper
from django.core.management.color import make_style

from schema_audit.cli import terminal
from schema_audit.cli.reporter import Reporter
from tests.conftest import migration

EVIL = "evil\x1b]0;owned\x07\x1b[2J\r\x9b31m\u202eend"


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("\x1b[2J", "\\x1b[2J"),
        ("a\rb", "a\\x0db"),
        ("bell\x07", "bell\\x07"),
        ("\x9b31m", "\\x9b31m"),
        ("\u202eabc", "\\u202eabc"),
        # A newline in data would start a forged line of its own: shown, kept on one line.
        ("line 1\nline 2\tcol", "line 1\\nline 2\tcol"),
        ("a\u2028b", "a\\u2028b"),
        ("✓ 003 v1.2_x  41 ms", "✓ 003 v1.2_x  41 ms"),
    ],
)
def test_escape_makes_control_characters_visible(raw, shown):
    assert terminal.escape(raw) == shown


def test_styles_still_colour_a_terminal_but_data_cannot():
    """The reporter's own colours are applied after escaping; injected ones are shown as text."""
    out = io.StringIO()
    out.isatty = lambda: True
    report = Reporter(OutputWrapper(out), OutputWrapper(io.StringIO()), make_style("dark"))
    report.out.write(f"{report.style.ERROR('failed')}: {EVIL}")
    written = out.getvalue()
    assert written.startswith("\x1b[31;1mfailed\x1b[0m: evil\\x1b]0;owned\\x07")
    assert written.count("\x1b") == 2


def test_failing_migration_error_is_escaped(uap, migrations_dir):
    """A PostgreSQL error quoting a hostile identifier is printed with its escapes visible."""
    body = f'SELECT * FROM "{EVIL}";'
    folder = migrations_dir({"001_v1.0_evil.sql": migration("001", body)})
    result = uap(directory=folder)
    assert result.code == 1
    assert "\x1b" not in result.out + result.err and "\x07" not in result.err
    assert "evil\\x1b]0;owned\\x07\\x1b[2J\\x0d\\x9b31m\\u202eend" in result.err


def test_verify_escapes_out_of_band_object_names(uap, database, migrations_dir):
    """Captured DDL on a table with escapes in its name reaches --verify's output escaped."""
    folder = migrations_dir({"001_v1.0_a.sql": migration("001", "CREATE TABLE a (id int);")})
    assert uap(directory=folder).code == 0
    assert uap("--install-ddl-audit").code == 0
    with database.connect() as conn:
        conn.execute(f'CREATE TABLE "{EVIL}" (id int)')
    result = uap("--verify", directory=folder)
    assert "out-of-band DDL" in result.err
    assert "\x1b" not in result.out + result.err and "\x9b" not in result.err
    assert "evil\\x1b]0;owned" in result.err
