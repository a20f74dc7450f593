"""What both audit admins share: read-only permissions, the missing-ledger guard, CSV export."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from schema_audit.admin import audited, filters, fleet, queries, views

EMPTY = "-"  # Django's own empty_value_display
DRIFT_BADGE = mark_safe(' <span class="uap-badge uap-drift">drift</span>')


def status_badge(status: str | None):
    """A coloured badge for a ledger or event status."""
    status = status or "unknown"
    return format_html(
        '<span class="uap-badge uap-{}">{}</span>', status, status.replace("_", " ")
    )


def duration_html(milliseconds: int | None):
    """`1,234 ms`, marked when over UAP_SLOW_MIGRATION_MS."""
    if milliseconds is None:
        return EMPTY
    if milliseconds > filters.slow_threshold():
        return format_html(
            '<span class="uap-slow" title="over {} ms">{} ms ⚠ slow</span>',
            f"{filters.slow_threshold():,}",
            f"{milliseconds:,}",
        )
    return f"{milliseconds:,} ms"


def preformatted(text: str | None):
    """Multi-line text (SQL, rollback) kept as written."""
    return format_html('<pre class="uap-pre">{}</pre>', text) if text else EMPTY


def timestamp(value) -> str:
    """`2026-03-15 10:30:00 UTC`: sortable, unambiguous, in the project's time zone."""
    return f"{timezone.localtime(value):%Y-%m-%d %H:%M:%S %Z}" if value else EMPTY


class ReadOnlyAuditAdmin(admin.ModelAdmin):
    """Everything visible, nothing editable: no add, change, delete or bulk action for anyone."""

    actions = None
    list_per_page = 50
    csv_columns: dict[str, str] = {}
    csv_stem = ""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @property
    def urls(self):
        # Every page of this admin, the subclasses' extra ones included, is access-logged.
        return audited.audited_urls(self.get_urls())

    def get_urls(self):
        name = f"{self.opts.app_label}_{self.opts.model_name}_export"
        export = path("export.csv", self.admin_site.admin_view(self.export_view), name=name)
        return [export, *super().get_urls()]

    def ledger_notice(self, request):
        """The missing-ledger page while uap_migrate has not created the tables, else None."""
        title = str(self.opts.verbose_name_plural).capitalize()
        down = fleet.unreachable(request, self.admin_site, title)
        if down is not None:
            return down
        if queries.tracking_tables_ready(fleet.selected_database(request)):
            return None
        return views.ledger_missing(request, self.admin_site, title)

    def get_queryset(self, request):
        # The database selector: every list, detail page and export reads the chosen alias.
        return super().get_queryset(request).using(fleet.selected_database(request))

    def get_changelist(self, request, **kwargs):
        return fleet.DatabaseChangeList

    def changelist_view(self, request, extra_context=None):
        notice = self.ledger_notice(request)
        extra_context = {**(extra_context or {}), **fleet.selector_context(request)}
        return notice or super().changelist_view(request, extra_context)

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        notice = self.ledger_notice(request)
        return notice or super().changeform_view(request, object_id, form_url, extra_context)

    def delete_view(self, request, object_id, extra_context=None):
        notice = self.ledger_notice(request)
        return notice or super().delete_view(request, object_id, extra_context)

    def history_view(self, request, object_id, extra_context=None):
        notice = self.ledger_notice(request)
        return notice or super().history_view(request, object_id, extra_context)

    def export_view(self, request):
        """The changelist's rows, with its filters, search and ordering, as streamed CSV."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        notice = self.ledger_notice(request)
        if notice:
            return notice
        try:
            changelist = self.get_changelist_instance(request)
        except IncorrectLookupParameters:
            info = self.opts.app_label, self.opts.model_name
            return HttpResponseRedirect(reverse("admin:%s_%s_changelist" % info) + "?e=1")
        queryset = self.export_queryset(request, changelist.queryset)
        return views.csv_response(queryset, self.csv_columns, self.csv_stem)

    def export_queryset(self, request, queryset):
        """The changelist's queryset as exported; subclasses add computed columns."""
        return queryset

    @admin.display(description="status", ordering="status")
    def status_badge(self, obj):
        return status_badge(obj.status)

    @admin.display(description="duration", ordering="duration_ms")
    def duration(self, obj):
        return duration_html(obj.duration_ms)
