"""The chain trigger as older ledgers have it, for upgrade tests."""

from __future__ import annotations

from schema_audit.ledger import chain


def legacy_trigger_sql(table: str) -> str:
    """chain.trigger_sql without the server-set who and when (call with OPTIONAL_FIELDS = ())."""
    text = chain.trigger_sql(table)
    start = text.index("    -- Who and when come from the server")
    end = text.index("    END IF;\n", start) + len("    END IF;\n")
    return text[:start] + text[end:]
