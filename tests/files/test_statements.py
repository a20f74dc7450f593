"""Statement splitting by PostgreSQL's parser: what a regex on `;` gets wrong."""

from __future__ import annotations

import pytest

from schema_audit.exceptions import InvalidMigration
from schema_audit.files.statements import parse, transaction_control

TRICKY = """-- leading comment; with a semicolon
CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $body$
BEGIN
    RETURN 1; -- inside a dollar quote
END
$body$;
/* block; comment */ SELECT E'it\\'s; fine', 'café; ok';
SELECT 'ünïcödé';
CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON t (a)
"""


def test_parse_splits_on_top_level_semicolons_only():
    """Dollar quotes, E'' strings, comments and non-ASCII text stay inside their statement."""
    statements = parse(TRICKY)
    assert [s.line for s in statements] == [2, 7, 8, 9]
    assert statements[0].text.startswith("CREATE FUNCTION f()")
    assert statements[0].text.endswith("$body$")
    assert statements[1].text == "SELECT E'it\\'s; fine', 'café; ok'"
    assert statements[3].text == "CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON t (a)"


def test_parse_error_names_the_line():
    """A syntax error is InvalidMigration with the line PostgreSQL's parser points at."""
    with pytest.raises(InvalidMigration) as caught:
        parse("SELECT 'é';\n\nCREATE TABLE (;\n", "f.sql")
    assert caught.value.line == 3 and str(caught.value).startswith("f.sql:3: SQL does not parse")


def test_transaction_control_line_counts_characters_not_bytes():
    """Non-ASCII text before a COMMIT does not shift the reported line."""
    text = "-- ééé\nSELECT 'ééééééééééé';\nSELECT 1;\n\n\n\nCOMMIT;\n"
    assert [c.line for c in transaction_control(text)] == [7]
