"""Django's own `migrate` beside uap_migrate: its session marked, its schema change recorded.

pre_migrate marks Django's migrate session for the DDL capture (integrity/ddl_capture), so
its trigger attributes Django's DDL instead of recording it as out-of-band; post_migrate
records one `django_migrate` event with the applied migrations and the new schema
fingerprint, so `uap_migrate --verify` compares against the schema Django left. Recording
never makes `migrate` fail: a problem is logged as a warning.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timezone

import psycopg
from django.apps import apps as global_apps
from django.db import DatabaseError, connections

from schema_audit import conf, db
from schema_audit.db.names import shown
from schema_audit.exceptions import SchemaAuditError
from schema_audit.integrity import ddl_capture, fingerprint, verification
from schema_audit.ledger import audit_log, store
from schema_audit.ledger.terms import Status

logger = logging.getLogger(__name__)

ACTION = store.DJANGO_MIGRATE_ACTION
_SET_SQL = "SELECT current_setting(%s, true), set_config(%s, %s, false)"
# Per alias while Django's migrate runs: (start time, perf counter, marker value before).
_running: dict[str, tuple[datetime, float, str]] = {}
_FAILURES = (SchemaAuditError, psycopg.Error, DatabaseError)


def migrated_apps() -> list:
    """The apps Django sends pre_migrate and post_migrate to, once each, in this order."""
    return [config for config in global_apps.get_app_configs() if config.models_module]


def _is_postgres(alias: str) -> bool:
    return connections[alias].vendor == "postgresql"


def before_migrate(sender, using: str = "default", plan=None, **kwargs) -> None:
    """pre_migrate: record drift Django's migrate would hide, then mark its session."""
    apps = migrated_apps()
    if not plan or not apps or sender is not apps[0] or not _is_postgres(using):
        return
    previous = ""
    try:
        _record_prior_drift(using)
    except _FAILURES as exc:
        logger.warning(
            "schema audit: drift before Django's migrate on %r not checked: %s", using, exc
        )
    try:
        with connections[using].cursor() as cursor:
            # The setting, for an audit function older versions installed; the mark, for
            # the current one (the ledger's owner only).
            cursor.execute(_SET_SQL, [ddl_capture.SESSION_SETTING] * 2 + ["on"])
            previous = cursor.fetchone()[0] or ""
            marks = ddl_capture.marks(cursor)
            if marks.session:
                cursor.execute(marks.session)
    except _FAILURES as exc:
        logger.warning("schema audit: Django's migrate session on %r not marked: %s", using, exc)
    if using in _running:
        # An earlier migrate in this process failed before post_migrate: its session still
        # carries the mark, so restore what was there before that one.
        previous = _running[using][2]
    _running[using] = (datetime.now(timezone.utc), time.perf_counter(), previous)


def after_migrate(sender, using: str = "default", plan=None, **kwargs) -> None:
    """post_migrate: unmark Django's session and record a `django_migrate` event."""
    apps = migrated_apps()
    if not apps or sender is not apps[-1] or using not in _running:
        return
    started_at, clock, previous = _running.pop(using)
    duration_ms = round((time.perf_counter() - clock) * 1000)
    try:
        with connections[using].cursor() as cursor:
            cursor.execute(_SET_SQL, [ddl_capture.SESSION_SETTING] * 2 + [previous])
            marks = ddl_capture.marks(cursor)
            if marks.end:
                cursor.execute(marks.end)
    except _FAILURES as exc:
        logger.warning("schema audit: Django's migrate session on %r not unmarked: %s", using, exc)
    try:
        _record(using, plan, started_at, duration_ms)
    except _FAILURES as exc:
        logger.warning(
            "schema audit: Django's migrate on %r not recorded in %s: %s",
            using,
            shown(store.EVENTS_TABLE),
            exc,
        )


def describe_plan(plan) -> str:
    """One line per migration of a Django migrate plan: `app.name`, `(unapplied)` if backwards."""
    return "\n".join(
        f"{migration.app_label}.{migration.name}" + (" (unapplied)" if backwards else "")
        for migration, backwards in plan
    )


def _events_table_exists(conn: psycopg.Connection) -> bool:
    return conn.execute(
        "SELECT to_regclass(%s) IS NOT NULL", (store.qualified(store.EVENTS_TABLE),)
    ).fetchone()[0]


def _record_prior_drift(using: str) -> None:
    # A change made before this migrate (out of band) must stay visible: the event recorded
    # afterwards takes a new fingerprint that would otherwise absorb it.
    with (
        db.open_connection(using, purpose="django migrate") as conn,
        audit_log.emitting(conn, using),
    ):
        if _events_table_exists(conn):
            with db.advisory_lock(conn, conf.get("UAP_LOCK_WAIT")):
                verification.record_drift(conn)


def _record(using: str, plan, started_at: datetime, duration_ms: int) -> None:
    with (
        db.open_connection(using, purpose="django migrate") as conn,
        audit_log.emitting(conn, using),
    ):
        if not _events_table_exists(conn):
            return  # the app's tables are uap_migrate's to create
        # Under the runners' lock, so the fingerprint is not taken mid-way through a run.
        with db.advisory_lock(conn, conf.get("UAP_LOCK_WAIT")):
            current, text = fingerprint.take_for_event(conn)
            attempt = store.Attempt(
                version=None,
                action=ACTION,
                status=Status.COMPLETED,
                started_at=started_at,
                duration_ms=duration_ms,
                sql_text=describe_plan(plan),
                fingerprint=current,
                schema_description=text,
            )
            store.record_event(conn, attempt)
    logger.info("schema audit: recorded Django's migrate on %r (%d migrations)", using, len(plan))
