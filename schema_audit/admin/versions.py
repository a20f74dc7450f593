"""The audit admin: who applied what, when, how long, with what SQL; read-only.

See docs/reference.md, "Admin".
"""

from __future__ import annotations

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import BooleanField, Case, Value, When
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from schema_audit.admin import (
    approval_views,
    audited,
    filters,
    findings,
    fleet,
    queries,
    traces,
    views,
)
from schema_audit.admin.base import (
    DRIFT_BADGE,
    EMPTY,
    ReadOnlyAuditAdmin,
    preformatted,
    sql_excerpt,
    timestamp,
)
from schema_audit.admin.events import MigrationEventAdmin
from schema_audit.files import redact
from schema_audit.ledger.terms import Action, Status
from schema_audit.models import MigrationEvent, SchemaMigration

__all__ = ["MigrationEventAdmin", "SchemaMigrationAdmin"]  # both registered on import

# The guide's header template, shown on each version's page.
HEADER_NAMES = (
    "migration",
    "date",
    "description",
    "status",
    "changes",
    "impact",
    "rollback",
    "author",
    "retired",
)
TIMELINE_LIMIT = 200  # newest attempts shown on a version's page; the event log has them all


@admin.register(SchemaMigration)
class SchemaMigrationAdmin(ReadOnlyAuditAdmin):
    """One row per version: its latest status, header, SQL and every attempt."""

    list_display = [
        "version_number",
        "name",
        "status_badge",
        "applied",
        "duration",
        "applied_by",
        "short_checksum",
    ]
    list_filter = [
        filters.StatusFilter,
        filters.SlowFilter,
        filters.ProblemFilter,
        ("applied_at", admin.DateFieldListFilter),
    ]
    search_fields = ["version", "name", "error_message"]
    date_hierarchy = "applied_at"
    summary_fields = ["version", "name", "status_badge", "applied_at", "duration", "applied_by"]
    header_fields = [*(f"header_{name}" for name in HEADER_NAMES), "header_other"]
    fieldsets = [
        (None, {"fields": [*summary_fields, "checksum_detail"]}),
        ("File header", {"fields": ["source_path", *header_fields]}),
        ("SQL that ran", {"fields": ["sql_that_ran"]}),
        ("Error", {"fields": ["error_message", "sqlstate"]}),
        ("Before the deploy: dry-run trace", {"fields": ["dry_run_trace"]}),
    ]
    readonly_fields = [
        "status_badge",
        "duration",
        "checksum_detail",
        "source_path",
        *header_fields,
        "sql_that_ran",
        "sqlstate",
        "dry_run_trace",
    ]
    csv_stem = "schema_migrations"
    csv_columns = {
        "version": "version",
        "name": "name",
        "status": "status",
        "applied_at": "applied_at",
        "duration_ms": "duration_ms",
        "slow": "is_slow",
        "applied_by": "applied_by",
        "checksum": "checksum",
        "drift": "has_drift",
        "description": "description",
        "impact": "impact",
        "rollback_sql": "rollback_sql",
        "error_message": "error_message",
    }

    def get_urls(self):
        summary = self.admin_site.admin_view(self.summary_view)
        evidence = self.admin_site.admin_view(self.evidence_view)
        pending_csv = self.admin_site.admin_view(self.pending_csv_view)
        approve = self.admin_site.admin_view(self.approve_view)
        revoke = self.admin_site.admin_view(self.revoke_view)
        return [
            path("approve/<str:version>/", approve, name="schema_audit_approve"),
            path("revoke/<str:version>/", revoke, name="schema_audit_revoke"),
            path("summary/", summary, name="schema_audit_summary"),
            path("fleet/", self.admin_site.admin_view(self.fleet_view), name="schema_audit_fleet"),
            path("summary/evidence.zip", evidence, name="schema_audit_evidence"),
            path("summary/pending.csv", pending_csv, name="schema_audit_pending_csv"),
            *super().get_urls(),
        ]

    @audited.logs_as("view")
    def summary_view(self, request):
        """Where the database stands (views.summary), for anyone who may view migrations."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        return views.summary(request, self.admin_site)

    @audited.logs_as("export")
    def pending_csv_view(self, request):
        """Every pending file as CSV (views.pending_csv), for anyone who may view migrations."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        return views.pending_csv(request)

    @audited.logs_as("view")
    def fleet_view(self, request):
        """Every configured database (admin.fleet), for anyone who may view migrations."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        return fleet.fleet_page(request, self.admin_site)

    @audited.logs_as("view", write="approve")
    def approve_view(self, request, version):
        """Approve a pending file: "Schema approvers" members only (approval_views)."""
        return approval_views.consent_view(request, self.admin_site, version, Action.APPROVE)

    @audited.logs_as("view", write="revoke")
    def revoke_view(self, request, version):
        """Revoke a pending file's approval: "Schema approvers" members only."""
        return approval_views.consent_view(request, self.admin_site, version, Action.REVOKE)

    @audited.logs_as("evidence")
    def evidence_view(self, request):
        """The evidence bundle, for anyone who may view both the versions and the event log."""
        # The registry itself: AdminSite.get_model_admin() is Django 5.0+, and 4.2 is supported.
        events = self.admin_site._registry[MigrationEvent]
        if not (self.has_view_permission(request) and events.has_view_permission(request)):
            raise PermissionDenied
        return self.ledger_notice(request) or views.evidence_download(request)

    def get_queryset(self, request):
        # ModelAdmin.get_queryset orders before we could add the ordering key: build it here.
        # alias(), not annotate(): the keys are used to sort and filter, never computed per row.
        return (
            self.model.objects.using(fleet.selected_database(request))
            .alias(version_key=queries.version_key())
            .order_by(*self.get_ordering(request))
        )

    def get_changelist_instance(self, request):
        changelist = super().get_changelist_instance(request)
        for obj in changelist.result_list:
            self._read_disk(request, obj)
        return changelist

    def export_queryset(self, request, queryset):
        """Drift and slow flags computed in SQL, so the export streams straight from a cursor."""
        drifted = queries.drift_q(request, queryset.db)
        drift = (
            Case(When(drifted, then=Value(True)), default=Value(False))
            if queries.request_plan(request, queryset.db) is not None
            else Value(None, output_field=BooleanField())
        )
        slow = Case(
            When(duration_ms__gt=queries.slow_threshold(), then=Value(True)), default=Value(False)
        )
        return queryset.annotate(has_drift=drift, is_slow=slow)

    def _read_disk(self, request, obj) -> None:
        """Attach the version's file on disk and why it drifted (None: directory unusable)."""
        plan = queries.request_plan(request, obj._state.db)
        files = plan.files if plan is not None else {}
        obj.source_file = queries.file_of(files, obj.version)
        obj.drift = plan.drift.get(obj.version, "") if plan is not None else None

    def get_ordering(self, request):
        return ["-version_key"]

    def get_object(self, request, object_id, from_field=None):
        """The row, with its file on disk and its attempts for the detail page."""
        obj = super().get_object(request, object_id, from_field)
        if obj is None:
            return None
        self._read_disk(request, obj)
        events = MigrationEvent.objects.using(obj._state.db).filter(version=obj.version)
        obj.timeline = list(events.defer("sql_text").order_by("-id")[:TIMELINE_LIMIT])[::-1]
        obj.timeline_total = events.count()
        with_sql = events.filter(sql_text__isnull=False).defer("sql_text").order_by("-id")
        # What the version's file ran (a real apply before a dry run), and apart from it, the
        # Rollback SQL that undid it: a rolled-back version shows both, each labelled.
        obj.sql_event = (
            with_sql.exclude(action__in=(Action.ROLLBACK, Action.DRY_RUN)).first()
            or with_sql.exclude(action=Action.ROLLBACK).first()
        )
        obj.rollback_event = with_sql.filter(action=Action.ROLLBACK).first()
        return obj

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "events_url": reverse("admin:schema_audit_migrationevent_changelist"),
            "db_query": fleet.database_query(request),
            "db_only": fleet.database_query(request, "?"),
            "slow_ms": queries.slow_threshold(),
        }
        return super().change_view(request, object_id, form_url, extra_context)

    @admin.display(description="applied at", ordering="applied_at")
    def applied(self, obj):
        return timestamp(obj.applied_at)

    @admin.display(description="version", ordering="version_key")
    def version_number(self, obj):
        return obj.version

    @admin.display(description="checksum")
    def short_checksum(self, obj):
        value = (obj.checksum or "").strip()
        drift = DRIFT_BADGE if obj.drift else ""
        return format_html('<code title="{}">{}</code>{}', value, value[:12], drift)

    @admin.display(description="checksum")
    def checksum_detail(self, obj):
        reason = obj.drift
        if not reason:
            return format_html("<code>{}</code>", (obj.checksum or "").strip() or EMPTY)
        return format_html(
            '<code>{}</code><br><span class="uap-badge uap-drift">drift</span> {}',
            (obj.checksum or "").strip(),
            findings.html(reason),
        )

    @admin.display(description="file")
    def source_path(self, obj):
        if obj.source_file:
            return queries.shown_to_auditors(obj.source_file.path)
        return "not on disk: description, impact and rollback below are the ledger's copy"

    def _header(self, obj, field: str, ledger_field: str | None = None) -> str:
        if obj.source_file:
            text = getattr(obj.source_file.header, field)
        else:
            text = getattr(obj, ledger_field) if ledger_field else None
        return redact.redact(text) or EMPTY

    @admin.display(description="Migration")
    def header_migration(self, obj):
        return self._header(obj, "migration")

    @admin.display(description="Date")
    def header_date(self, obj):
        return self._header(obj, "date")

    @admin.display(description="Description")
    def header_description(self, obj):
        return self._header(obj, "description", "description")

    @admin.display(description="Status")
    def header_status(self, obj):
        return self._header(obj, "status")

    @admin.display(description="Changes")
    def header_changes(self, obj):
        return format_html('<div class="uap-lines">{}</div>', self._header(obj, "changes"))

    @admin.display(description="Impact")
    def header_impact(self, obj):
        return self._header(obj, "impact", "impact")

    @admin.display(description="Rollback")
    def header_rollback(self, obj):
        text = self._header(obj, "rollback", "rollback_sql")
        return preformatted(text) if text != EMPTY else EMPTY

    @admin.display(description="Author")
    def header_author(self, obj):
        return self._header(obj, "author")

    @admin.display(description="Retired")
    def header_retired(self, obj):
        """Why the file never runs, as its `-- Retired:` line says."""
        return self._header(obj, "retired")

    @admin.display(description="Other lines")
    def header_other(self, obj):
        """Header keys outside the template (Source, Ticket, ...), as the file writes them."""
        extra = obj.source_file.header.extra if obj.source_file else {}
        if not extra:
            return EMPTY
        shown = ((key, redact.redact(value)) for key, value in extra.items())
        lines = format_html_join("", "<div><b>{}:</b> {}</div>", shown)
        return format_html('<div class="uap-lines">{}</div>', lines)

    @admin.display(description="SQL")
    def sql_that_ran(self, obj):
        shown = [
            (label, event)
            for label, event in (
                ("The migration's SQL", obj.sql_event),
                ("The Rollback SQL that undid it", obj.rollback_event),
            )
            if event is not None
        ]
        if not shown:
            return "no SQL recorded in the event log for this version"
        return format_html_join(
            "",
            '<h4 class="uap-sql-label">{}</h4><p class="help">Recorded by event #{} ({}, {}).'
            "</p>{}",
            (
                (label, e.id, e.action, timestamp(e.started_at), sql_excerpt(e.pk, e._state.db))
                for label, e in shown
            ),
        )

    @admin.display(description="SQLSTATE")
    def sqlstate(self, obj):
        latest = obj.timeline[-1] if obj.timeline else None
        return (latest.sqlstate if latest and obj.status == Status.FAILED else None) or EMPTY

    @admin.display(description="latest trace before it was applied")
    def dry_run_trace(self, obj):
        event = traces.latest_before_apply(obj)
        if event is None:
            return "no traced dry run (uap_migrate --dry-run --trace) recorded for this version"
        return traces.trace_html(event.trace, event)
