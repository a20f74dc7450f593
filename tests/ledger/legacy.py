"""Ledgers as older versions left them, for upgrade tests."""

from __future__ import annotations

from schema_audit.ledger import chain, schema, store


def legacy_trigger_sql(table: str) -> str:
    """chain.trigger_sql without the server-set who and when (call with OPTIONAL_FIELDS = ())."""
    text = chain.trigger_sql(table)
    start = text.index("    -- Who and when come from the server")
    end = text.index("    END IF;\n", start) + len("    END IF;\n")
    return text[:start] + text[end:]


def create_older_ledger(database, monkeypatch, without: set[str]) -> None:
    """A chained ledger lacking the event columns `without`, with one baseline event in it."""
    older = tuple(c for c in schema.EVENT_COLUMNS if c[0] not in without)
    with monkeypatch.context() as patch:
        patch.setattr(schema, "EVENT_COLUMNS", older)
        patch.setattr(chain, "OPTIONAL_FIELDS", ())
        # The trigger as it was: the chain function without the optional fields.
        function = schema.qualified(f"{schema.EVENTS_TABLE}_chain")
        head = schema._trigger_sql().split(f"CREATE OR REPLACE FUNCTION {function}")
        legacy = head[0] + legacy_trigger_sql(schema.EVENTS_TABLE)
        patch.setattr(schema, "_trigger_sql", lambda: legacy)
        with database.connect() as conn:
            store.ensure_schema(conn)
            conn.execute(
                "INSERT INTO schema_migration_events (version, action, status) "
                "VALUES ('000', 'baseline', 'baseline')"
            )
