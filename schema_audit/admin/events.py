"""The event log's admin: every attempt and detection, with who, why and its hash-chain link."""

from __future__ import annotations

from urllib.parse import quote as urlquote

from django.contrib import admin
from django.contrib.admin.utils import quote
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.urls import path, reverse
from django.utils.html import format_html

from schema_audit.admin import audited, filters, fleet, queries, traces
from schema_audit.admin.base import EMPTY, ReadOnlyAuditAdmin, sql_excerpt, timestamp
from schema_audit.files import redact
from schema_audit.ledger.schema import EVENT_COLUMNS, LARGE_EVENT_COLUMNS
from schema_audit.models import MigrationEvent

HASH_SHOWN = 12  # hex digits of a hash in the list; the detail page shows all 64


def _code(value: str | None, shown: int | None = None):
    value = (value or "").strip()
    if not value:
        return EMPTY
    return format_html('<code title="{}">{}</code>', value, value[:shown] if shown else value)


@admin.register(MigrationEvent)
class MigrationEventAdmin(ReadOnlyAuditAdmin):
    """Every attempt, append-only: apply, dry run, rollback, baseline, repair, patch, and the
    audits' out-of-band DDL and schema drift detections."""

    list_display = [
        "id",
        "started",
        "version_link",
        "action",
        "status_badge",
        "duration",
        "applied_by",
        "os_user",
        "host",
        "app_version",
        "ticket",
        "sqlstate",
        "short_hash",
        "actor",
    ]
    list_display_links = ["id", "started"]
    list_filter = [
        filters.EventProblemFilter,
        filters.ActionFilter,
        filters.EventStatusFilter,
        filters.SlowFilter,
        filters.DatabaseUserFilter,
        filters.OsUserFilter,
        filters.ActorFilter,
        filters.TicketFilter,
        filters.RolloutFilter,
        ("started_at", admin.DateFieldListFilter),
        traces.DryRunVerdictFilter,
    ]
    search_fields = [
        "version",
        "error_message",
        "applied_by",
        "os_user",
        "host",
        "app_version",
        "ticket",
        "application",
        "ddl_objects",
        "^hash",
        "actor",
    ]
    date_hierarchy = "started_at"
    ordering = ["-id"]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "id",
                    "version_link",
                    "action",
                    "status_badge",
                    "started_at",
                    "duration",
                    "checksum",
                    "error_message",
                    "sqlstate",
                    "reason",
                ]
            },
        ),
        (
            "Who and why",
            {
                "fields": [
                    "actor",
                    "applied_by",
                    "os_user",
                    "host",
                    "application",
                    "app_version",
                    "ticket",
                    "rollout",
                ]
            },
        ),
        ("Objects changed (out-of-band DDL)", {"fields": ["ddl_objects"]}),
        ("Integrity", {"fields": ["previous_link", "hash_detail", "fingerprint_detail"]}),
        ("SQL", {"fields": ["sql_block"]}),
        ("Dry-run trace", {"fields": ["trace_block"]}),
    ]
    readonly_fields = [
        "version_link",
        "status_badge",
        "duration",
        "previous_link",
        "hash_detail",
        "fingerprint_detail",
        "sql_block",
        "trace_block",
    ]
    csv_stem = "schema_migration_events"
    # Every column but the large texts, which only the detail page shows.
    csv_columns = {name: name for name, _ in EVENT_COLUMNS if name not in LARGE_EVENT_COLUMNS}

    def get_queryset(self, request):
        return super().get_queryset(request).defer(*LARGE_EVENT_COLUMNS)

    @admin.display(description="started at", ordering="started_at")
    def started(self, obj):
        return timestamp(obj.started_at)

    @admin.display(description="version", ordering="version")
    def version_link(self, obj):
        if not obj.version:
            return EMPTY
        url = reverse("admin:schema_audit_schemamigration_change", args=[quote(obj.version)])
        if obj._state.db != queries.ledger_database():
            url += f"?{fleet.DATABASE_VAR}={urlquote(obj._state.db)}"
        return format_html('<a href="{}">{}</a>', url, obj.version)

    @admin.display(description="hash")
    def short_hash(self, obj):
        return _code(obj.hash, HASH_SHOWN)

    @admin.display(description="hash")
    def hash_detail(self, obj):
        if not (obj.hash or "").strip():
            return "not chained (written before the hash chain, or with its trigger off)"
        return _code(obj.hash)

    @admin.display(description="previous hash")
    def previous_link(self, obj):
        previous = (obj.prev_hash or "").strip()
        if not previous:
            return EMPTY if not obj.hash else "none: the first chained event"
        found = (
            MigrationEvent.objects.using(obj._state.db)
            .filter(hash=previous)
            .values_list("pk", flat=True)
            .first()
        )
        if found is None:
            return format_html("{} (no event has this hash)", _code(previous))
        url = reverse("admin:schema_audit_migrationevent_change", args=[found])
        if obj._state.db != queries.ledger_database():
            url += f"?{fleet.DATABASE_VAR}={urlquote(obj._state.db)}"
        return format_html('{} <a href="{}">event #{}</a>', _code(previous), url, found)

    @admin.display(description="schema fingerprint")
    def fingerprint_detail(self, obj):
        if not (obj.fingerprint or "").strip():
            return EMPTY
        stored = len(obj.schema_description or "")
        note = f"schema description stored ({stored:,} characters)" if stored else "no description"
        return format_html('{}<p class="help">{}</p>', _code(obj.fingerprint), note)

    @admin.display(description="SQL")
    def sql_block(self, obj):
        return sql_excerpt(obj.pk, obj._state.db)

    @admin.display(description="trace")
    def trace_block(self, obj):
        return traces.trace_html(obj.trace)

    def get_urls(self):
        download = self.admin_site.admin_view(self.sql_download_view)
        name = "schema_audit_migrationevent_sql"
        return [path("<int:event_id>/sql/", download, name=name), *super().get_urls()]

    @audited.logs_as("view")
    def sql_download_view(self, request, event_id: int):
        """The whole SQL of one event as a text file (password literals masked); read-only."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        notice = self.ledger_notice(request)
        if notice:
            return notice
        events = MigrationEvent.objects.using(fleet.selected_database(request))
        found = events.filter(pk=event_id).values_list("sql_text", flat=True)
        text = found.first()
        if text is None:
            raise Http404("no SQL recorded for this event")
        response = HttpResponse(redact.redact(text), content_type="text/plain; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="event_{event_id}.sql"'
        response["Cache-Control"] = "no-store"
        return response
