"""The access log's admin: who viewed or exported the audit trail; superusers and access admins."""

from __future__ import annotations

from django.contrib import admin

from schema_audit.admin import views
from schema_audit.admin.base import EMPTY, ReadOnlyAuditAdmin, timestamp
from schema_audit.ledger import access
from schema_audit.ledger.access import ACCESS_ADMINS_GROUP
from schema_audit.ledger.schema import ACCESS_COLUMNS
from schema_audit.models import AccessRecord


def may_read_access_log(user) -> bool:
    """Superusers and active members of ACCESS_ADMINS_GROUP; auditors are not."""
    if not (user.is_active and user.is_staff):
        return False
    return user.is_superuser or user.groups.filter(name=ACCESS_ADMINS_GROUP).exists()


@admin.register(AccessRecord)
class AccessRecordAdmin(ReadOnlyAuditAdmin):
    """Every page view, filter, export and evidence download of the audit admin."""

    list_display = [
        "id",
        "when",
        "username",
        "action",
        "method",
        "path",
        "query",
        "status_code",
        "rows_exported",
        "address",
    ]
    list_display_links = ["id", "when"]
    list_filter = ["action", "username", ("at", admin.DateFieldListFilter)]
    date_hierarchy = "at"
    search_fields = ["username", "path", "query_string", "address"]
    show_full_result_count = False  # the log only grows: no second COUNT(*) per page
    csv_stem = "schema_audit_access"
    csv_columns = {name: name for name, _ in ACCESS_COLUMNS}

    def has_view_permission(self, request, obj=None):
        return may_read_access_log(request.user)

    def has_module_permission(self, request):
        return may_read_access_log(request.user)

    def ledger_notice(self, request):
        if access.table_exists():
            return None
        return views.ledger_missing(request, self.admin_site, "Access records")

    @admin.display(description="at", ordering="at")
    def when(self, obj):
        return timestamp(obj.at)

    @admin.display(description="query string")
    def query(self, obj):
        return obj.query_string or EMPTY
