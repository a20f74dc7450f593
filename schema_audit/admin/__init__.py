"""The read-only audit admin: model admins, list filters, summary page and exports."""

from schema_audit.admin import access_log, events, versions  # noqa: F401 (registers the admins)
