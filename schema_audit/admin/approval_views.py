"""The admin's only write: a "Schema approvers" member approves or revokes a pending file.

GET shows a confirmation page (the file, its checksum, Author and SQL); POST, with Django's
CSRF token and the checksum the page showed, records the event through the API, which checks
the group, the Author and that the file still has that checksum.
"""

from __future__ import annotations

import logging

import psycopg
from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse

from schema_audit import api
from schema_audit.admin import fleet, queries
from schema_audit.engine.approvals import APPROVERS_GROUP
from schema_audit.engine.authors import is_author
from schema_audit.exceptions import SchemaAuditError
from schema_audit.files import redact
from schema_audit.ledger.terms import Action

logger = logging.getLogger(__name__)
MAX_COMMENT, MAX_TICKET = 2000, 200
# Characters of the file shown; the checksum on the page binds the whole file.
SQL_SHOWN = 256 * 1024


class ConsentForm(forms.Form):
    """The optional comment and change ticket of an approval or revocation."""

    comment = forms.CharField(required=False, max_length=MAX_COMMENT, widget=forms.Textarea)
    ticket = forms.CharField(required=False, max_length=MAX_TICKET)
    # The checksum of the file as the page showed it: the approval is for that content only.
    checksum = forms.CharField(min_length=64, max_length=64, widget=forms.HiddenInput)


def may_approve(user) -> bool:
    """Active staff in APPROVERS_GROUP; superusers only when they are members too."""
    return bool(
        user.is_active and user.is_staff and user.groups.filter(name=APPROVERS_GROUP).exists()
    )


def approval_states(database: str = "default", pending=None) -> dict[str, dict]:
    """`{version: state}` of the pending files (of `pending` when given); {} when unknown."""
    try:
        return api.approval_states(database=database, pending=pending)
    except (SchemaAuditError, psycopg.Error) as exc:
        logger.warning("summary: approval states unavailable: %s", exc)
        return {}


def shown_file(migration) -> dict:
    """The file's SQL and header text as the approve page shows them: passwords masked, capped."""
    text = migration.sql[:SQL_SHOWN]
    return {
        "shown_sql": redact.redact(text),
        "sql_cut": len(migration.sql) > SQL_SHOWN,
        "sql_length": len(migration.sql),
        "shown_description": redact.redact(migration.header.description),
        "shown_impact": redact.redact(migration.header.impact),
    }


def consent_view(request, admin_site, version: str, action: str):
    """Confirmation page (GET) and the approve or revoke itself (POST)."""
    if not may_approve(request.user):
        raise PermissionDenied
    files = queries.disk_migrations()
    migration = queries.file_of(files, version)
    database = fleet.selected_database(request)  # approvals live in each database's own log
    state = approval_states(database).get(migration.version) if migration else None
    summary_url = reverse("admin:schema_audit_summary") + fleet.database_query(request, "?")
    if migration is None or state is None:
        messages.error(request, f"{version} is not a pending migration file on disk.")
        return HttpResponseRedirect(summary_url)
    initial = {"checksum": migration.checksum, "ticket": migration.header.get("Ticket")}
    form = ConsentForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        record = api.approve if action == Action.APPROVE else api.revoke
        try:
            record(migration.version, request.user, database=database, **form.cleaned_data)
        except SchemaAuditError as exc:
            messages.error(request, str(exc))
            # Shown again with the file as it is now: a new confirmation is for this content.
            form = ConsentForm(initial={**form.cleaned_data, "checksum": migration.checksum})
        else:
            verb = "Approved" if action == Action.APPROVE else "Revoked the approval of"
            messages.success(request, f"{verb} {migration.label} ({migration.checksum[:12]}…).")
            return HttpResponseRedirect(summary_url)
    context = {
        **admin_site.each_context(request),
        "title": f"{'Approve' if action == Action.APPROVE else 'Revoke approval of'} "
        f"{migration.label}",
        "action": action,
        "migration": migration,
        "shown_path": queries.shown_to_auditors(migration.path),
        **shown_file(migration),
        "state": state,
        "form": form,
        "self_approval": is_author(
            migration.header.author, request.user.get_username(), request.user.email
        ),
        "summary_url": summary_url,
    }
    return TemplateResponse(request, "admin/schema_audit/approve.html", context)
