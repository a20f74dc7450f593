"""The only code that writes `schema_audit_access`: who viewed or exported what in the admin.

Rows go through Django's connection (the admin's), in autocommit, so a record is kept even
when the page itself fails afterwards; each is also streamed on `schema_audit.audit` once
committed.
"""

from __future__ import annotations

import logging

from django.db import connections, router, transaction

from schema_audit.db.names import shown
from schema_audit.ledger import audit_log
from schema_audit.ledger.schema import ACCESS_COLUMNS, ACCESS_TABLE, ledger_sql, qualified

logger = logging.getLogger(__name__)

ACCESS_ADMINS_GROUP = "Schema audit admins"  # with superusers, who may read the access log
MAX_TEXT = 2000  # a path or query string is cut here: a hostile URL cannot bloat the log
FIELDS = tuple(name for name, _ in ACCESS_COLUMNS if name not in ("id", "at"))
_INSERT_SQL = (
    f"INSERT INTO {{access}} ({', '.join(FIELDS)}) "
    f"VALUES ({', '.join(['%s'] * len(FIELDS))}) "
    f"RETURNING {', '.join(name for name, _ in ACCESS_COLUMNS)}"
)
_EXISTS_SQL = "SELECT to_regclass(%s) IS NOT NULL"
LOCK_WAIT = 5  # seconds a page waits to record its access


def _clip(value: object) -> object:
    if isinstance(value, str):
        return value.replace("\x00", "")[:MAX_TEXT]
    return value


def access_database() -> str:
    """The alias of the access log: `default`, or where the host's routers write the app."""
    from schema_audit.models import AccessRecord  # models need the app registry

    return router.db_for_write(AccessRecord)


def table_exists(database: str | None = None) -> bool:
    """True once `uap_migrate` has created the access table on this database."""
    with connections[database or access_database()].cursor() as cursor:
        cursor.execute(_EXISTS_SQL, (qualified(ACCESS_TABLE),))
        return bool(cursor.fetchone()[0])


def record(database: str | None = None, **values: object) -> dict | None:
    """Append one access record (keys of FIELDS) and stream it; None before the table exists.

    Before `uap_migrate` has created the tables there is no audit trail to look at, and the
    pages say so; the access is still streamed on the audit logger.
    """
    database = database or access_database()
    row = {name: _clip(values.get(name)) for name in FIELDS}
    if not table_exists(database):
        logger.warning("%s does not exist yet; access not stored: %s", shown(ACCESS_TABLE), row)
        audit_log.emit("access", row, database)
        return None
    # The chain trigger takes the log's advisory lock, which any login may hold: a page waits
    # for it at most LOCK_WAIT, then fails instead of hanging the worker.
    with transaction.atomic(using=database), connections[database].cursor() as cursor:
        cursor.execute(f"SET LOCAL lock_timeout = '{LOCK_WAIT * 1000}ms'")
        cursor.execute(ledger_sql(_INSERT_SQL), [row[name] for name in FIELDS])
        stored = dict(zip([name for name, _ in ACCESS_COLUMNS], cursor.fetchone(), strict=True))
    transaction.on_commit(lambda: audit_log.emit("access", stored, database), using=database)
    return stored
