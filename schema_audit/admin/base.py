"""What both audit admins share: read-only permissions, the missing-ledger guard, CSV export."""

from __future__ import annotations

from urllib.parse import quote

from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import PermissionDenied
from django.db.models.functions import Left, Length
from django.http import HttpResponseRedirect
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from schema_audit.admin import audited, fleet, queries, search, views
from schema_audit.files import redact

EMPTY = "-"  # Django's own empty_value_display
SQL_SHOWN = 64 * 1024  # characters of an event's SQL shown inline
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
    if milliseconds > queries.slow_threshold():
        return format_html(
            '<span class="uap-slow" title="over {} ms">{} ms ⚠ slow</span>',
            f"{queries.slow_threshold():,}",
            f"{milliseconds:,}",
        )
    return f"{milliseconds:,} ms"


def preformatted(text: str | None):
    """Multi-line text (SQL, rollback) kept as written, password literals masked."""
    return format_html('<pre class="uap-pre">{}</pre>', redact.redact(text)) if text else EMPTY


def sql_excerpt(event_id: int, database: str):
    """An event's SQL: the first SQL_SHOWN characters inline, and a link to the whole text.

    A 50 MB migration rendered inline made 54 MB of HTML; only the head is read and shown.
    """
    from schema_audit.models import MigrationEvent

    head, length = (
        MigrationEvent.objects.using(database)
        .filter(pk=event_id)
        .annotate(head=Left("sql_text", SQL_SHOWN), length=Length("sql_text"))
        .values_list("head", "length")
        .first()
    ) or (None, 0)
    if head is None:
        return EMPTY
    if length <= SQL_SHOWN:
        return preformatted(head)
    url = reverse("admin:schema_audit_migrationevent_sql", args=[event_id])
    if database != queries.ledger_database():
        url += f"?{fleet.DATABASE_VAR}={quote(database)}"
    return format_html(
        '<p class="help">The first {} of {} characters. <a href="{}" id="sql-download">'
        "Download the whole SQL</a></p>{}",
        f"{SQL_SHOWN:,}",
        f"{length:,}",
        url,
        preformatted(head),
    )


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
        return audited.audited_urls(self.get_urls(), self.django_view_access())

    def django_view_access(self) -> dict[str | None, audited.Access]:
        """What each URL of Django's ModelAdmin is in the access log, by URL name; this app's
        own views declare theirs with `audited.logs_as`."""
        info = f"{self.opts.app_label}_{self.opts.model_name}"
        return {
            f"{info}_changelist": audited.Access(write="change"),  # a POST is a bulk action
            f"{info}_add": audited.Access(write="add"),
            f"{info}_history": audited.Access(),
            f"{info}_delete": audited.Access(write="delete"),
            f"{info}_change": audited.Access(write="change"),
            None: audited.Access(),  # an object's old URL, redirected to its change page
        }

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
        # `objects`: the default manager is empty, to keep the audit out of dumpdata.
        queryset = self.model.objects.using(fleet.selected_database(request))
        ordering = self.get_ordering(request)
        return queryset.order_by(*ordering) if ordering else queryset

    def get_changelist(self, request, **kwargs):
        return fleet.DatabaseChangeList

    def changelist_view(self, request, extra_context=None):
        notice = self.ledger_notice(request)
        if notice:
            return notice
        self._drop_nul_parameters(request)
        extra_context = {**(extra_context or {}), **fleet.selector_context(request)}
        return super().changelist_view(request, extra_context)

    def _drop_nul_parameters(self, request) -> None:
        """Parameters holding a NUL byte match no row (PostgreSQL text cannot hold one): drop
        them, say so, and list nothing rather than fail."""
        bad = search.nul_parameters(request.GET)
        if not bad:
            return
        query = request.GET.copy()
        for name in bad:
            del query[name]
            shown = name.replace("\x00", "\\x00")
            messages.error(request, f"Filter {shown} not applied: its value contains a NUL byte.")
        request.GET = query
        request.uap_match_nothing = True

    def get_search_results(self, request, queryset, search_term):
        """Bounded search (admin.search): over its limits, nothing listed and a notice."""
        if getattr(request, "uap_match_nothing", False):
            return queryset.none(), False
        try:
            words = search.terms(search_term)
        except search.SearchRefused as exc:
            messages.error(request, str(exc))
            return queryset.none(), False
        if not words:
            return queryset, False
        return search.matching(queryset, self.get_search_fields(request), words), False

    def get_object(self, request, object_id, from_field=None):
        if "\x00" in str(object_id):  # no key holds a NUL byte; PostgreSQL would refuse it
            return None
        return super().get_object(request, object_id, from_field)

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        notice = self.ledger_notice(request)
        return notice or super().changeform_view(request, object_id, form_url, extra_context)

    def delete_view(self, request, object_id, extra_context=None):
        notice = self.ledger_notice(request)
        return notice or super().delete_view(request, object_id, extra_context)

    def history_view(self, request, object_id, extra_context=None):
        notice = self.ledger_notice(request)
        return notice or super().history_view(request, object_id, extra_context)

    @audited.logs_as("export")
    def export_view(self, request):
        """The changelist's rows, with its filters, search and ordering, as streamed CSV."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        notice = self.ledger_notice(request)
        if notice:
            return notice
        if self._refused_input(request):
            # The list explains what is wrong; an export never silently drops a filter.
            info = self.opts.app_label, self.opts.model_name
            url = reverse("admin:%s_%s_changelist" % info)
            return HttpResponseRedirect(f"{url}?{request.GET.urlencode()}")
        try:
            changelist = self.get_changelist_instance(request)
        except IncorrectLookupParameters:
            info = self.opts.app_label, self.opts.model_name
            return HttpResponseRedirect(reverse("admin:%s_%s_changelist" % info) + "?e=1")
        queryset = self.export_queryset(request, changelist.queryset)
        return views.csv_response(queryset, self.csv_columns, self.csv_stem)

    def _refused_input(self, request) -> bool:
        if search.nul_parameters(request.GET):
            return True
        try:
            search.terms(request.GET.get("q", ""))
        except search.SearchRefused:
            return True
        return False

    def export_queryset(self, request, queryset):
        """The changelist's queryset as exported; subclasses add computed columns."""
        return queryset

    @admin.display(description="status", ordering="status")
    def status_badge(self, obj):
        return status_badge(obj.status)

    @admin.display(description="duration", ordering="duration_ms")
    def duration(self, obj):
        return duration_html(obj.duration_ms)
