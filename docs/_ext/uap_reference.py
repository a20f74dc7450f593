"""Reference tables read from the code at build time, so the docs cannot drift from it.

Directives: `uap-command-options` (the argument parser of `manage.py uap_migrate`),
`uap-settings` (schema_audit/conf.py's SETTINGS), `uap-exit-codes` (the exit code each error
of schema_audit.exceptions carries) and `uap-table-columns NAME` (the column tuples of
schema_audit/ledger/schema.py, with the meanings below). A column the code has and this file
does not describe is a build warning, and `make docs` turns warnings into errors.
"""

from __future__ import annotations

import argparse
import inspect
import os

from docutils import nodes
from docutils.parsers.rst import Directive
from sphinx.util import logging

logger = logging.getLogger(__name__)

# What each column holds; the names and types come from the code.
COLUMN_MEANINGS = {
    "migrations": {
        "version": "the version as written in the file name (`003`); ordered numerically",
        "name": "`vX.Y_description` from the file name",
        "checksum": "SHA-256 of the file (BOM dropped, CRLF turned into LF)",
        "status": "`completed`, `failed`, `running`, `rolled_back` or `baseline`",
        "applied_at": "when the version was applied",
        "duration_ms": "how long its SQL ran",
        "error_message": "PostgreSQL's message for a failed version; the reason of a rollback",
        "applied_by": "the database role that applied it",
        "description": "the header's `Description:`",
        "impact": "the header's `Impact:`",
        "rollback_sql": "the header's `Rollback:` SQL (password literals masked)",
    },
    "events": {
        "id": "order of writing, which is also the hash chain's order",
        "version": "the version; a patch's file name; empty for detections",
        "action": "`apply`, `dry_run`, `rollback`, `baseline`, `repair`, `accept_checksum`, "
        "`patch`, `out_of_band_ddl`, `schema_drift`, `django_migrate`, `approve`, `revoke`",
        "status": "a row's statuses, plus `skipped` (a dry run's untried file) and "
        "`detected` (out-of-band DDL, drift)",
        "started_at": "when the attempt started (the writer's claim, checked by the trigger)",
        "duration_ms": "how long it took",
        "error_message": "PostgreSQL's message, or what a detection found",
        "sqlstate": "PostgreSQL's SQLSTATE of a failure (`42703`, `55P03`)",
        "applied_by": "`session_user`, set by the database",
        "os_user": "the operating-system user of the writing process (claimed)",
        "host": "the host of the writing process (claimed)",
        "app_version": "`git describe --always --dirty`, else `UAP_APP_VERSION`",
        "checksum": "the file's SHA-256",
        "sql_text": "the SQL as it ran, password literals masked",
        "reason": "`--reason`, an approval's comment, or why a file was a no-op",
        "ticket": "`--ticket` or `UAP_CHANGE_TICKET`",
        "application": "the session's `application_name`",
        "ddl_objects": "objects touched by out-of-band DDL (`ALTER TABLE: table public.users`)",
        "fingerprint": "SHA-256 of `schema_description`",
        "schema_description": "canonical JSON description of the live schema",
        "prev_hash": "the previous event's `hash`",
        "hash": "`sha256(prev_hash ‖ canonical row)`, computed by the chain trigger",
        "trace": "a dry run's lock and rewrite trace (`--trace`), JSON",
        "rollout": "the id shared by every event of one fleet run",
        "actor": "who deployed (`--actor`, `UAP_ACTOR`, the CI's user, the OS user); on an "
        "approve or revoke, the approving Django user",
        "recorded_at": "the server clock when the row was written, set by the trigger",
        "signature": "`<key id>:<base64 Ed25519 signature>` of an event the app wrote "
        "(`UAP_SIGNING_KEY`); NULL on rows written outside it",
    },
    "access": {
        "id": "order of writing",
        "at": "when (database clock)",
        "username": "the Django user; for a failed login the name tried (never the password)",
        "action": "`view`, `export`, `evidence`, `approve`, `revoke`, `login_failed`, or a "
        "refused write: `add`, `change`, `delete`",
        "method": "the HTTP method",
        "path": "the path (cut at 2,000 characters)",
        "query_string": "the filters and the selected database (cut at 2,000 characters)",
        "status_code": "the answer (403 for a refused page)",
        "rows_exported": "the rows of a CSV export",
        "address": "`REMOTE_ADDR`",
    },
}


def cell(text: object, literal: bool = False) -> nodes.entry:
    """One table cell: plain text, `backquoted` parts as literals, or the whole as a literal."""
    entry = nodes.entry()
    paragraph = nodes.paragraph()
    if literal:
        paragraph += nodes.literal(text=str(text))
    else:
        for index, part in enumerate(str(text).split("`")):
            if part:
                paragraph += nodes.literal(text=part) if index % 2 else nodes.Text(part)
    entry += paragraph
    return entry


def table(headers: list[str], rows: list[list[nodes.entry]], widths: list[int]) -> nodes.table:
    """A docutils table from header names and rows of cells."""
    group = nodes.tgroup(cols=len(headers))
    for width in widths:
        group += nodes.colspec(colwidth=width)
    head = nodes.thead()
    head += nodes.row("", *(cell(name) for name in headers))
    body = nodes.tbody()
    for row in rows:
        body += nodes.row("", *row)
    group += head
    group += body
    result = nodes.table(classes=["uap-reference"])
    result += group
    return result


def setup_django() -> None:
    """django.setup() with the test settings (a throwaway key; nothing connects)."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    django.setup()


def command_parser(name: str) -> argparse.ArgumentParser:
    """The real argument parser of `manage.py NAME`, a command of schema_audit."""
    setup_django()
    from django.core.management import load_command_class

    return load_command_class("schema_audit", name).create_parser("manage.py", name)


def option_usage(action: argparse.Action) -> str:
    """`--flag VALUE` as a user types it; a positional argument by its name."""
    if not action.option_strings:
        return action.metavar or action.dest.upper()
    names = ", ".join(action.option_strings)
    if action.nargs == 0:
        return names
    if action.choices:
        value = "{" + ",".join(str(choice) for choice in action.choices) + "}"
    else:
        value = action.metavar or action.dest.upper()
    if action.nargs == "*":
        value = f"[{value} ...]"
    return f"{names} {value}"


class CommandOptions(Directive):
    """Every option of a command (`uap_migrate` by default), from its parser."""

    optional_arguments = 1

    def run(self):
        parser = command_parser(self.arguments[0] if self.arguments else "uap_migrate")
        groups = parser._mutually_exclusive_groups
        exclusive = {id(action) for group in groups for action in group._group_actions}
        rows = []
        for action in parser._actions:
            if action.help == argparse.SUPPRESS:
                continue
            default = action.default
            shown = "" if default in (None, False, "", argparse.SUPPRESS) else repr(default)
            help_text = action.help or ""
            if id(action) in exclusive:
                help_text += " (a mode)"
            rows.append([cell(option_usage(action), literal=True), cell(help_text), cell(shown)])
        return [table(["option", "does", "default"], rows, [30, 60, 10])]


def describe_default(default: object) -> str:
    """A default as the docs show it; a computed one by what it computes."""
    if callable(default):
        doc = inspect.getdoc(default)
        return doc.splitlines()[0] if doc else "computed when read"
    if default is None:
        return "unset"
    return repr(default)


class Settings(Directive):
    """Every `UAP_*` setting of schema_audit/conf.py: name, default, meaning."""

    def run(self):
        setup_django()
        from schema_audit import conf

        rows = [
            [cell(name, literal=True), cell(describe_default(item.default)), cell(item.meaning)]
            for name, item in conf.SETTINGS.items()
        ]
        return [table(["setting", "default", "meaning"], rows, [30, 25, 45])]


class ExitCodes(Directive):
    """Each exit code with the errors of schema_audit.exceptions that carry it."""

    def run(self):
        setup_django()
        from schema_audit import exceptions

        found: dict[int, list[type]] = {}
        for _, klass in inspect.getmembers(exceptions, inspect.isclass):
            if issubclass(klass, exceptions.SchemaAuditError):
                found.setdefault(klass.exit_code, []).append(klass)
        rows = []
        for code in sorted(found):
            names = ", ".join(k.__name__ for k in found[code])
            meaning = " ".join((inspect.getdoc(k) or "").splitlines()[0] for k in found[code])
            rows.append([cell(code, literal=True), cell(names), cell(meaning)])
        return [table(["exit code", "raised as", "meaning"], rows, [10, 30, 60])]


class TableColumns(Directive):
    """The columns of one tracking table: name and type from the code, meaning from above."""

    required_arguments = 1

    def run(self):
        setup_django()
        from schema_audit.ledger import schema

        which = self.arguments[0]
        columns = {
            "migrations": schema.MIGRATION_COLUMNS,
            "events": schema.EVENT_COLUMNS,
            "access": schema.ACCESS_COLUMNS,
        }[which]
        meanings = COLUMN_MEANINGS[which]
        rows = []
        for name, ddl in columns:
            if name not in meanings:
                logger.warning(
                    "column %s of the %s table has no meaning in docs/_ext/uap_reference.py "
                    "COLUMN_MEANINGS: add one",
                    name,
                    which,
                    location=(self.state.document.current_source, self.lineno),
                )
            meaning = cell(meanings.get(name, ""))
            rows.append([cell(name, literal=True), cell(ddl, literal=True), meaning])
        return [table(["column", "type", "holds"], rows, [20, 30, 50])]


def setup(app):
    """Register the directives."""
    app.add_directive("uap-command-options", CommandOptions)
    app.add_directive("uap-settings", Settings)
    app.add_directive("uap-exit-codes", ExitCodes)
    app.add_directive("uap-table-columns", TableColumns)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
