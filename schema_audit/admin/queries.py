"""The audit admin's reads besides plain changelists: the catalog, the files on disk, the
planner's verdict on them, and the charts' numbers.

The admin reads the ledger rows through the ORM; these tell it what only the catalog, the files
on disk and the planner (through schema_audit.api) know. They never create or change anything.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from pathlib import Path

import psycopg
from django.conf import settings
from django.contrib import messages
from django.db import connections, router
from django.db.models import BooleanField, CharField, F, Func, Q
from django.utils import timezone

from schema_audit import api, conf
from schema_audit import db as postgres
from schema_audit.admin.charts import Duration
from schema_audit.engine import fleet_status
from schema_audit.exceptions import ForeignLedger, InvalidMigration, SchemaAuditError
from schema_audit.files import discovery, naming
from schema_audit.files.paths import shown_path
from schema_audit.ledger import foreign, store
from schema_audit.ledger.schema import version_order_sql
from schema_audit.ledger.terms import Action, Status
from schema_audit.models import SchemaMigration

_READY_SQL = """
SELECT c.relname, a.attname::text
FROM pg_class c
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
WHERE c.oid IN (to_regclass(%s), to_regclass(%s))
"""
# What the planner's verdict depends on in the database. A run, an approval or an accepted
# checksum adds an event; a row edited or deleted by hand changes the rows' xmins or count;
# tables dropped and created again have new oids. One scan of the rows, no scan of the events.
_LEDGER_STATE_SQL = """
SELECT to_regclass({events_name})::oid, (SELECT max(id) FROM {events}),
       to_regclass({migrations_name})::oid, count(*), sum(xmin::text::bigint)
FROM {migrations}
"""
_disk_cache: dict[Path, tuple[tuple, dict]] = {}
_plan_cache: dict[tuple[str, Path], tuple[tuple, LedgerPlan]] = {}


def ledger_database() -> str:
    """The alias the admin reads the ledger from: `default`, or where the routers send it."""
    return router.db_for_read(SchemaMigration)


def tracking_tables_ready(database: str | None = None) -> bool:
    """True when both tracking tables exist with every column the admin reads."""
    with connections[database or ledger_database()].cursor() as cursor:
        tables = (store.qualified(store.MIGRATIONS_TABLE), store.qualified(store.EVENTS_TABLE))
        cursor.execute(_READY_SQL, tables)
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
        table = store.qualified(store.MIGRATIONS_TABLE)
        cursor.execute(foreign.TABLES_SQL, ([table],))
        found = foreign.relations(cursor.fetchall())
    ledger_columns = (name for name, _ in store.MIGRATION_COLUMNS)
    return foreign.problem(found.get(table), ledger_columns)


def version_key(field: str = "version") -> VersionOrder:
    """SQL expression ordering and matching versions numerically, part by part for dotted
    ones: the key the ledger indexes (ledger.schema.version_order_sql)."""
    return VersionOrder(F(field))


class VersionOrder(Func):
    """A version's sort key, written as the ledger's index writes it (ledger.schema)."""

    output_field = CharField()

    def as_sql(self, compiler, connection, **extra):
        column, params = compiler.compile(self.source_expressions[0])
        return version_order_sql(column), params


def slow_threshold() -> int:
    """Milliseconds over which a migration counts as slow (UAP_SLOW_MIGRATION_MS)."""
    return conf.UAP_SLOW_MIGRATION_MS


def _disk_signature(folder: Path) -> tuple | None:
    try:
        return _signature(folder)
    except OSError:
        return None  # discover() raises the precise error


def disk_migrations(directory: Path | str | None = None) -> dict:
    """`{version number: MigrationFile}` on disk; InvalidMigration when unreadable.

    Files are re-read only when a name, size or mtime in the directory changed, so a page that
    checks drift on every request does not hash every file every time.
    """
    folder = api.migrations_dir(directory)
    signature = _disk_signature(folder)
    cached = _disk_cache.get(folder)
    if signature is not None and cached and cached[0] == signature:
        return cached[1]
    files = {_file_key(m.version, bool(m.order)): m for m in discovery.discover(folder)}
    if signature is not None:
        _disk_cache[folder] = (signature, files)
    return files


def _file_key(version: str, placed: bool) -> str | tuple:
    """A file's key in disk_migrations: its version as the runner matches versions ('3' is
    '003'), or, in a folder placed by its plan (sqitch's names), the version itself ('1' and
    '01' may be two changes there)."""
    return version if placed else naming.version_key(version)


def file_of(files: dict, version: str) -> discovery.MigrationFile | None:
    """The file of `version` in disk_migrations' dict, or None."""
    return files.get(version) or files.get(naming.version_key(version))


def _signature(folder: Path) -> tuple:
    """Name, size and mtime of every file, in sub-folders too (a diesel migration is a
    folder whose up.sql may be edited in place; a Flyway `.sql.conf` or a `sqitch.plan`
    changes what runs); dotfiles left out."""
    found = []
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.name.startswith("."):
                continue
            if entry.is_dir(follow_symlinks=False):
                found.append((entry.name, _signature(Path(entry.path))))
            else:
                status = entry.stat()
                found.append((entry.name, status.st_size, status.st_mtime_ns))
    return tuple(sorted(found, key=lambda item: item[0]))


def shown_to_auditors(path: Path | str | None = None) -> str:
    """A migrations path (the directory by default) relative to BASE_DIR, or just its name."""
    where = path or api.migrations_dir()
    return shown_path(where, getattr(settings, "BASE_DIR", None), private=True)


def shown_error(exc: Exception, directory: Path | str | None = None) -> str:
    """`exc`'s message with the migrations directory's absolute path shown to auditors."""
    folder = api.migrations_dir(directory)
    message = str(exc)
    for spelling in {str(folder), str(folder.resolve())}:
        message = message.replace(spelling, shown_to_auditors(folder))
    return message


@dataclass(frozen=True)
class LedgerPlan:
    """The planner's verdict on one database and the files on disk, as the admin shows it."""

    files: dict  # disk_migrations()
    pending: list[tuple[discovery.MigrationFile, str]] = field(default_factory=list)
    drifted: list[dict] = field(default_factory=list)  # {version, name, reason}, file on disk
    missing: list[str] = field(default_factory=list)  # applied, file gone; newest first
    drift: dict[str, str] = field(default_factory=dict)  # every drifted row's version: why
    # The planner's, in the layout's order (Flyway's 1.10 after 1.2.3, repeatables aside).
    current_version: str | None = None


def ledger_plan(database: str, ledger_ready: bool = True) -> LedgerPlan:
    """What a run would apply and refuse as drift (api.migration_status); InvalidMigration
    when the directory is unusable.

    The verdict is kept until a file on disk or the ledger changes (`_LEDGER_STATE_SQL`), so
    pages that show drift on every request do not read every row and event each time.
    """
    folder = api.migrations_dir()
    files = disk_migrations(folder)
    if not ledger_ready:  # nothing recorded: every file is pending
        in_order = sorted(files.values(), key=lambda f: f.key)
        return LedgerPlan(files, [(f, "new") for f in in_order])
    with connections[database].cursor() as cursor:
        cursor.execute(store.ledger_sql(_LEDGER_STATE_SQL))
        state = (_disk_signature(folder), *cursor.fetchone())
    cached = _plan_cache.get((database, folder))
    if state[0] is not None and cached and cached[0] == state:
        return cached[1]
    found = _plan_of(api.migration_status(folder, database), files)
    if len(_plan_cache) > 64:  # one entry per database and directory: bounded
        _plan_cache.clear()
    _plan_cache[(database, folder)] = (state, found)
    return found


def _plan_of(status: dict, files: dict) -> LedgerPlan:
    entries = status["migrations"]
    # A file never recorded is `new`; the planner also retries the failed ones. Matched as
    # the runner matches versions: '3', '003' and '000003' are one version.
    retried = {naming.version_key(e["version"]) for e in entries if e["status"] == Status.FAILED}
    pending = [
        (file, Status.FAILED if naming.version_key(item["version"]) in retried else "new")
        for item in status["pending"]
        if (file := file_of(files, item["version"]))
    ]
    missing = [e for e in entries if e["status"] in store.APPLIED and not e["on_disk"]]
    return LedgerPlan(
        files,
        pending,
        # A row deleted by hand is drift too, with its file on disk or not.
        drifted=[
            {"version": e["version"], "name": e["name"], "reason": e["drift"]}
            for e in entries
            if e["drift"] and (e["on_disk"] or e["status"] not in store.APPLIED)
        ],
        missing=[e["version"] for e in reversed(missing)],  # entries are in run order
        drift={e["version"]: e["drift"] for e in entries if e["drift"]},
        current_version=status["current_version"],
    )


def request_plan(request, database: str) -> LedgerPlan | None:
    """`ledger_plan`, once per request; None (and a warning) when the directory is unusable."""
    if not hasattr(request, "_uap_plans"):
        request._uap_plans = {}
    if database not in request._uap_plans:
        try:
            request._uap_plans[database] = ledger_plan(database)
        except InvalidMigration as exc:
            request._uap_plans[database] = None
            messages.warning(request, f"Checksum drift cannot be checked: {exc}")
    return request._uap_plans[database]


class _VersionIn(Func):
    """`version` is one of `versions`, bound as one JSON array string: an IN list of 100,000
    placeholders took seconds to build and plan on every changelist page, and an array of
    100,000 adapted strings held megabytes during an export that streams. JSON, not a joined
    string: a sqitch change or a Flyway description may hold any separator. A sub-select,
    not `= ANY(ARRAY(...))`: PostgreSQL hashes the sub-select's versions once, where it
    would search an array of 100,000 from its start for every row (minutes per page)."""

    output_field = BooleanField()

    def __init__(self, versions: list[str]):
        super().__init__(F("version"))
        self.versions = json.dumps(versions)

    def as_sql(self, compiler, connection, **extra):
        sql, params = compiler.compile(self.source_expressions[0])
        listed = "SELECT jsonb_array_elements_text(%s::jsonb)"
        return f"{sql} IN ({listed})", (*params, self.versions)


def drift_q(request, database: str) -> Q:
    """Rows the runner would refuse as drift (`ledger_plan`); none when that is unknown."""
    plan = request_plan(request, database)
    return Q(_VersionIn(list(plan.drift))) if plan is not None else Q(pk__in=[])


CHART_VERSIONS, CHART_WEEKS = 200, 26  # what the charts show: bounded at any ledger size
# Events per week and outcome since a Monday, in the admin's time zone; one scan of the weeks.
_WEEKLY_SQL = f"""
SELECT week, outcome, count(*) FROM (
    SELECT date_trunc('week', started_at AT TIME ZONE %(tz)s)::date AS week,
           CASE WHEN action = '{Action.ROLLBACK}' THEN '{Status.ROLLED_BACK}'
                WHEN action = '{store.DRIFT_ACTION}' THEN 'drift'
                WHEN action = '{store.OUT_OF_BAND_ACTION}' THEN 'out_of_band'
                WHEN status = '{Status.FAILED}' THEN '{Status.FAILED}'
                WHEN action = '{Action.APPLY}' AND status = '{Status.COMPLETED}'
                    THEN '{Status.COMPLETED}'
           END AS outcome
    FROM {{events}}
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
    cursor.execute(store.ledger_sql("SELECT max(id) FROM {events}"))
    newest = cursor.fetchone()[0] or 0
    key = (database, params["tz"], params["since"])
    cached = _weekly_cache.get(key)
    if cached and cached[0] == newest:
        return cached[1]
    cursor.execute(store.ledger_sql(_WEEKLY_SQL), params)
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
