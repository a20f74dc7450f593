"""The fleet page and the database selector: every configured database from one admin.

`?db=<alias>` switches the changelists, detail pages and exports to another database of the
fleet; it is validated against the fleet's aliases and kept in every changelist link.
"""

from __future__ import annotations

import logging
from urllib.parse import parse_qsl, quote

from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import ChangeList
from django.http import Http404
from django.template.response import TemplateResponse

from schema_audit import api
from schema_audit import db as postgres
from schema_audit.admin import charts, findings, queries
from schema_audit.exceptions import InvalidMigration, SchemaAuditError

logger = logging.getLogger(__name__)

DATABASE_VAR = "db"  # the query parameter naming the alias a page reads
PROBE_TIMEOUT = 2  # seconds; an unreachable database must not hold a page for long


def databases() -> list[str]:
    """The aliases an auditor may switch to: UAP_FLEET, else every PostgreSQL alias."""
    try:
        return api.fleet_databases()
    except SchemaAuditError as exc:
        logger.warning("admin database selector: %s", exc)
        return [queries.ledger_database()]


def selected_database(request) -> str:
    """The alias of `?db=` (or of the changelist a detail page came from); 404 if unknown."""
    if not hasattr(request, "_uap_database"):
        alias = request.GET.get(DATABASE_VAR)
        if alias is None:
            came_from = dict(parse_qsl(request.GET.get("_changelist_filters", "")))
            alias = came_from.get(DATABASE_VAR)
        home = queries.ledger_database()
        alias = alias or home
        if alias != home and alias not in databases():
            raise Http404("no such database in this admin")
        request._uap_database = alias
    return request._uap_database


def unreachable(request, admin_site, title: str) -> TemplateResponse | None:
    """A notice instead of the page when the selected (non-default) database cannot be reached."""
    alias = selected_database(request)
    if alias == queries.ledger_database():
        return None
    try:
        with postgres.open_connection(alias, "admin", connect_timeout=PROBE_TIMEOUT):
            return None
    except SchemaAuditError as exc:
        context = {**admin_site.each_context(request), "title": title, "alias": alias}
        context["error"] = str(exc)
        return TemplateResponse(request, "admin/schema_audit/unreachable.html", context)


class DatabaseChangeList(ChangeList):
    """A changelist that keeps `?db=` in its links but does not filter on it."""

    def get_filters_params(self, params=None):
        lookup = super().get_filters_params(params)
        lookup.pop(DATABASE_VAR, None)
        return lookup

    def get_filters(self, request):
        try:
            return super().get_filters(request)
        except (OverflowError, ValueError) as exc:
            # A date drill-down beyond year 9999 (`?applied_at__year=2147483648`, or 9999
            # itself, whose end is in year 10000) is a bad filter, shown as one, not a 500.
            raise IncorrectLookupParameters(exc) from exc


def database_query(request, start: str = "&") -> str:
    """`&db=<alias>` for links that stay on the selected database; '' on the ledger's own."""
    alias = selected_database(request)
    home = queries.ledger_database()
    return "" if alias == home else f"{start}{DATABASE_VAR}={quote(alias)}"


def selector_context(request) -> dict:
    """Template context of the database selector."""
    return {"uap_databases": databases(), "uap_database": selected_database(request)}


# Problems listed per database; the rest are counted, with the command that lists them all
# (a ledger whose files are all gone has one per version: 100,000 lines made an 11 MB page
# that took seconds to render). Not a changelist link: some problems are no row's status
# (an applied file since retired), so no filter lists them.
SHOWN_PROBLEMS = 5


def fleet_page(request, admin_site) -> TemplateResponse:
    """Every configured database: version, pending, failed, drift or unreachable, last rollout."""
    context = {**admin_site.each_context(request), "title": "Fleet", "directory_error": None}
    try:
        context["databases"] = api.fleet_status()
        for member in context["databases"]:
            if "problems" in member:  # in the admin's words (findings.py), the first few
                problems = member["problems"]
                member["problems"] = [findings.text(p) for p in problems[:SHOWN_PROBLEMS]]
                member["more_problems"] = max(len(problems) - SHOWN_PROBLEMS, 0)
            weeks = None
            if member["state"] != "unreachable":
                weeks = queries.fleet_weekly_outcomes(member["alias"])
            member["chart"] = (
                charts.weekly(weeks, chart_id=f"weekly-{member['alias']}") if weeks else None
            )
    except InvalidMigration as exc:
        context["directory_error"] = queries.shown_error(exc)
        context["databases"] = []
    return TemplateResponse(request, "admin/schema_audit/fleet.html", context)
