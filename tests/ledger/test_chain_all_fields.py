"""trace, rollout and actor on one event, and a ledger from before any of them."""

from __future__ import annotations

from datetime import datetime, timezone

from schema_audit import api
from schema_audit.ledger import chain, store
from tests.conftest import migration, run_command
from tests.ledger.legacy import create_older_ledger


def _attempt(version: str, **optional) -> store.Attempt:
    return store.Attempt(
        version=version,
        action="dry_run",
        status="completed",
        started_at=datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=timezone.utc),
        **optional,
    )


def test_all_three_optional_fields_on_one_event_chain_and_verify_offline(
    database, tmp_path, migrations_dir
):
    """SQL and Python hash the same row; the evidence bundle re-verifies with no database."""
    with database.connect() as conn:
        store.ensure_schema(conn)
        store.record_event(
            conn,
            _attempt(
                "001", trace={"verdict": "review", "reasons": ["é \"q\""]},
                rollout="20260102T030405Z-abcdef", actor="bob",
            ),
        )  # fmt: skip
        store.record_event(conn, _attempt("002", rollout="20260102T030405Z-abcdef"))
        events = store.read_events(conn)
    assert chain.verify(events)["verified"]
    folder = migrations_dir({"001_v1.0_a.sql": migration("001", "SELECT 1;")})
    bundle = tmp_path / "evidence.zip"
    api.export_evidence(bundle, folder, database.alias)
    assert api.verify_evidence(bundle)["verified"]
    assert run_command("--verify-evidence", str(bundle)).code == 0


def test_ledger_from_before_every_optional_column_upgrades_and_verifies(
    database, monkeypatch, uap, migrations_dir
):
    """A ledger without the optional chained columns: upgraded, old hashes kept."""
    optional = {name for name, _ in chain.OPTIONAL_FIELDS}
    create_older_ledger(database, monkeypatch, optional)
    columns = {row[0] for row in database.query(
        "SELECT attname FROM pg_attribute WHERE attrelid = 'schema_migration_events'::regclass"
    )}  # fmt: skip
    assert not optional & columns
    folder = migrations_dir({"001_v1.0_a.sql": migration("001", "CREATE TABLE t (id int);")})
    assert uap("--trace", directory=folder).code == 0
    assert uap(directory=folder).code == 0
    result = uap("--verify", directory=folder)
    assert result.code == 0, result.out + result.err
