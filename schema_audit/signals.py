"""Signal receivers of the schema_audit app, connected once by SchemaAuditConfig.ready()."""

from __future__ import annotations

from schema_audit.ledger import access


def login_failed(sender, credentials: dict, request=None, **kwargs) -> None:
    """A failed login (any backend): the name tried, where from; never the password."""
    username = credentials.get("username") or credentials.get("email")
    meta = request.META if request is not None else {}
    access.record(
        username=str(username) if username is not None else None,
        action="login_failed",
        method=getattr(request, "method", None),
        path=getattr(request, "path", None),
        query_string=meta.get("QUERY_STRING", ""),
        address=meta.get("REMOTE_ADDR"),
    )
