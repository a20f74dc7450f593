"""What the admin needs besides the ORM: whether the tables are ready, and the files on disk.

The admin reads the ledger rows through the ORM; these tell it what only the catalog and the
files on disk know. They never create or change anything.
"""

from __future__ import annotations

import os
from datetime import datetime, time, timedelta
from pathlib import Path

import psycopg
from django.conf import settings
from django.db import connections, router
from django.utils import timezone

from schema_audit import api
from schema_audit.admin.charts import Duration
from schema_audit.engine import fleet_status, postgres
from schema_audit.exceptions import ForeignLedger, SchemaAuditError
from schema_audit.files import discovery
from schema_audit.ledger import foreign, store
from schema_audit.models import SchemaMigration

_READY_SQL = """
SELECT c.relname, a.attname::text
FROM pg_class c
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
WHERE c.oid IN (to_regclass(%s), to_regclass(%s))
"""
_disk_cache: dict[Path, tuple[tuple, dict[int, discovery.MigrationFile]]] = {}


def ledger_database() -> str:
    """The alias the admin reads the ledger from: `default`, or where the routers send it."""
    return router.db_for_read(SchemaMigration)


def tracking_tables_ready(database: str | None = None) -> bool:
    """True when both tracking tables exist with every column the admin reads."""
    with connections[database or ledger_database()].cursor() as cursor:
        cursor.execute(_READY_SQL, (store.MIGRATIONS_TABLE, store.EVENTS_TABLE))
        found = {(table, column) for table, column in cursor.fetchall()}
    wanted = {(store.MIGRATIONS_TABLE, name) for name, _ in store.MIGRATION_COLUMNS}
    wanted |= {(store.EVENTS_TABLE, name) for name, _ in store.EVENT_COLUMNS}
    return wanted <= found


def foreign_ledger(database: str | None = None) -> ForeignLedger | None:
    """Why the ledger cannot be read while another tool's table holds its name, else None.

    Asked only when tracking_tables_ready() is false: the notice then names the table's owner
    and the way forward, as uap_migrate does.
    """
    with connections[database or ledger_database()].cursor() as cursor:
        cursor.execute(foreign.TABLES_SQL, ([store.MIGRATIONS_TABLE],))
        found = foreign.relations(cursor.fetchall())
    ledger_columns = (name for name, _ in store.MIGRATION_COLUMNS)
    return foreign.problem(found.get(store.MIGRATIONS_TABLE), ledger_columns)


def disk_migrations(directory: Path | str | None = None) -> dict[int, discovery.MigrationFile]:
    """`{version number: MigrationFile}` on disk; InvalidMigration when unreadable.

    Files are re-read only when a name, size or mtime in the directory changed, so a page that
    checks drift on every request does not hash every file every time.
    """
    folder = api.migrations_dir(directory)
    try:
        signature = _signature(folder)
    except OSError:
        signature = None  # discover() raises the precise error
    cached = _disk_cache.get(folder)
    if signature is not None and cached and cached[0] == signature:
        return cached[1]
    files = {m.number: m for m in discovery.discover(folder)}
    if signature is not None:
        _disk_cache[folder] = (signature, files)
    return files


def _signature(folder: Path, inside: bool = False) -> tuple:
    """Name, size and mtime of each `.sql` file, and of the files in each sub-folder (a diesel
    migration is a folder, whose up.sql may be edited in place)."""
    found = []
    with os.scandir(folder) as entries:
        for entry in entries:
            if inside or entry.name.endswith(".sql"):
                found.append((entry.name, entry.stat().st_size, entry.stat().st_mtime_ns))
            elif not entry.name.startswith(".") and entry.is_dir(follow_symlinks=False):
                found.append((entry.name, _signature(Path(entry.path), inside=True)))
    return tuple(sorted(found, key=lambda item: item[0]))


def shown_path(path: Path | str | None = None) -> str:
    """A migrations path as auditors see it: relative to BASE_DIR, or just its name.

    The server's absolute layout (home directories, release folders) is none of the audit.
    """
    where = Path(path or api.migrations_dir())
    base = getattr(settings, "BASE_DIR", None)
    if base:
        try:
            return str(where.resolve().relative_to(Path(base).resolve()))
        except (ValueError, OSError):
            pass
    return where.name


def shown_error(exc: Exception, directory: Path | str | None = None) -> str:
    """`exc`'s message with the migrations directory's absolute path shown as `shown_path`."""
    folder = api.migrations_dir(directory)
    message = str(exc)
    for spelling in {str(folder), str(folder.resolve())}:
        message = message.replace(spelling, shown_path(folder))
    return message


CHART_VERSIONS, CHART_WEEKS = 200, 26  # what the charts show: bounded at any ledger size
# Events per week and outcome since a Monday, in the admin's time zone; one scan of the weeks.
_WEEKLY_SQL = f"""
SELECT week, outcome, count(*) FROM (
    SELECT date_trunc('week', started_at AT TIME ZONE %(tz)s)::date AS week,
           CASE WHEN action = 'rollback' THEN 'rolled_back'
                WHEN action = '{store.DRIFT_ACTION}' THEN 'drift'
                WHEN action = '{store.OUT_OF_BAND_ACTION}' THEN 'out_of_band'
                WHEN status = 'failed' THEN 'failed'
                WHEN action = 'apply' AND status = 'completed' THEN 'completed'
           END AS outcome
    FROM {store.EVENTS_TABLE}
    WHERE started_at >= %(since)s
) counted
WHERE outcome IS NOT NULL
GROUP BY week, outcome
"""


def applied_durations(database: str) -> list[Duration]:
    """The newest CHART_VERSIONS applied versions with a duration, in applied order.

    Newest by version, on the version-sort index the changelist uses: at 100,000 versions,
    sorting by applied_at would read them all.
    """
    from schema_audit.admin.filters import version_key

    rows = (
        SchemaMigration.objects.using(database)
        .alias(version_key=version_key())
        .filter(status__in=store.APPLIED, duration_ms__isnull=False, applied_at__isnull=False)
        .order_by("-version_key")
        .values_list("version", "applied_at", "duration_ms")[:CHART_VERSIONS]
    )
    return sorted((Duration(*row) for row in rows), key=lambda p: (p.applied_at, p.version))


def weekly_outcomes(database: str, *, through_django: bool = True) -> list[tuple]:
    """`[(week start, {outcome: events})]` of the last CHART_WEEKS weeks, empty ones included.

    The summary reads through Django's connection to `database`; the fleet page reads each
    member over its own short connection, as the fleet status does (`through_django=False`).
    """
    today = timezone.localdate()
    first = today - timedelta(weeks=CHART_WEEKS - 1, days=today.weekday())  # a Monday
    params = {
        "tz": timezone.get_current_timezone_name(),
        "since": timezone.make_aware(datetime.combine(first, time.min)),
    }
    if through_django:
        with connections[database].cursor() as cursor:
            rows = _weekly_rows(cursor, database, params)
    else:
        # The fleet page waits for no member longer than the fleet status it shows does.
        bounds = {
            "connect_timeout": fleet_status.CONNECT_TIMEOUT,
            "lock_wait": fleet_status.LOCK_WAIT,
        }
        with postgres.connect(database, purpose="admin", **bounds) as conn:
            rows = _weekly_rows(conn.cursor(), database, params)
    found: dict = {}
    for week, outcome, count in rows:
        found.setdefault(week, {})[outcome] = count
    if not found:
        return []
    weeks = [first + timedelta(weeks=n) for n in range((today - first).days // 7 + 1)]
    return [(week, found.get(week, {})) for week in weeks]


_weekly_cache: dict[tuple, tuple[int, list]] = {}


def _weekly_rows(cursor, database: str, params: dict) -> list:
    """The weekly counts, counted again only when an event was added since the last count.

    The log is append-only and every new event takes a higher id, so its largest id says
    whether a count of the same weeks still holds: a summary reloaded with nothing new
    costs an index lookup, not a scan of every event.
    """
    cursor.execute(f"SELECT max(id) FROM {store.EVENTS_TABLE}")
    newest = cursor.fetchone()[0] or 0
    key = (database, params["tz"], params["since"])
    cached = _weekly_cache.get(key)
    if cached and cached[0] == newest:
        return cached[1]
    cursor.execute(_WEEKLY_SQL, params)
    rows = cursor.fetchall()
    if len(_weekly_cache) > 64:  # one entry per database and week window: bounded
        _weekly_cache.clear()
    _weekly_cache[key] = (newest, rows)
    return rows


def fleet_weekly_outcomes(database: str) -> list[tuple] | None:
    """`weekly_outcomes` of one fleet member; None when its event log cannot be read."""
    try:
        return weekly_outcomes(database, through_django=False)
    except (SchemaAuditError, psycopg.Error):
        return None
