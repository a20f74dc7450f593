"""The Markdown trace for a pull request comment cannot be broken by hostile relation names."""

from __future__ import annotations

from schema_audit.cli.deploy import markdown


def test_relation_names_cannot_break_the_table_or_inject_html():
    """Pipes, newlines and markup in a relation name stay inside their cell, escaped."""
    lock = {
        "relation": 'public."a|<img src=x>\nb"',
        "kind": "table",
        "mode": "AccessExclusiveLock",
        "existing": True,
        "blocks": "reads and writes",
        "rows": 1,
        "bytes": 8192,
        "statement": 1,
        "held_ms": 3,
    }
    statement = {
        "index": 1,
        "line": 11,
        "status": "traced",
        "duration_ms": 3,
        "locks": [lock],
        "rewrites": [],
        "size_change_bytes": 0,
    }
    trace = {
        "version": "001",
        "name": "v1.0_x",
        "verdict": "review",
        "reasons": ["holds <b>lock</b>"],
        "statements": [statement],
        "locks": [lock],
        "rewrites": [],
        "duration_ms": 3,
        "size_change_bytes": 0,
    }
    text = markdown({"dry_run": [{"trace": trace}], "current_version": "000", "verdict": "review"})
    assert "<img" not in text and "<b>" not in text
    assert "a\\|&lt;img src=x&gt; b" in text
    table_rows = [line for line in text.splitlines() if line.startswith("| 001")]
    assert len(table_rows) == 1 and table_rows[0].count(" | ") == 5
