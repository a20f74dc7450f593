"""The SQL files in every test database Django creates, applied after Django's migrations.

Django's test runner and pytest-django both create a test database with `create_test_db`, which
runs `migrate` on it inside the test environment; its post_migrate is where the files go in,
through the same API as `uap_migrate`, so the test database's ledger records them. Once per
test database and process: a `TransactionTestCase` flush (post_migrate without a plan) and a
test's own `migrate` call do not apply them again. `UAP_TEST_DATABASES = False` turns it off.
"""

from __future__ import annotations

import logging

from django.core import mail
from django.db import connections
from django.db.backends.base.creation import TEST_DATABASE_PREFIX
from django.test import override_settings

from schema_audit import api, conf
from schema_audit.exceptions import SchemaAuditError
from schema_audit.integrity import django_migrate

logger = logging.getLogger(__name__)

# (alias, database name) already given the files by this process.
_applied: set[tuple[str, str]] = set()


class TestDatabaseSetupFailed(SchemaAuditError):
    """A SQL file failed in a test database: the tests would run on a partial schema."""

    __test__ = False  # not a test class, whatever pytest's name patterns say


def _in_test_environment() -> bool:
    # setup_test_environment(), which both runners call before creating databases, installs
    # the outbox that collects sent mail; it is absent in a deploy's migrate.
    return hasattr(mail, "outbox")


def is_test_database(using: str) -> bool:
    """True when alias `using` now points at a test database (the name create_test_db gives)."""
    settings_dict = connections[using].settings_dict
    name = settings_dict.get("NAME") or ""
    test_name = (settings_dict.get("TEST") or {}).get("NAME")
    return bool(name) and (name == test_name or name.startswith(TEST_DATABASE_PREFIX))


def apply_to_test_database(
    sender, using: str = "default", plan=None, verbosity: int = 1, stdout=None, **kwargs
) -> None:
    """post_migrate: apply every pending SQL file to a test database being created."""
    migrated = django_migrate.migrated_apps()
    # A flush sends post_migrate without a plan; only the last app's signal acts.
    if plan is None or not migrated or sender is not migrated[-1]:
        return
    if not conf.UAP_TEST_DATABASES or not _in_test_environment():
        return
    if connections[using].vendor != "postgresql" or not is_test_database(using):
        return
    key = (using, connections[using].settings_dict["NAME"])
    directory = conf.UAP_MIGRATIONS_DIR
    if key in _applied or not directory.is_dir():
        return
    # A test database has no approvals to give: the gate is for deploys.
    with override_settings(UAP_REQUIRE_APPROVAL=False):
        result = api.run_pending(directory, using)
    if result["failed"]:
        raise TestDatabaseSetupFailed(
            f"SQL files in test database {key[1]!r} (alias {using!r}) from {directory}: "
            + "; ".join(f"{error['file']}: {error['message']}" for error in result["errors"])
        )
    _applied.add(key)
    logger.info(
        "schema audit: %d SQL files applied to test database %r", result["successful"], key[1]
    )
    if verbosity >= 1 and stdout is not None:
        stdout.write(
            f"  Applied {result['successful']} SQL files from {directory} "
            f"(schema_audit, {result['current_version'] or 'none'} current)\n"
        )
