"""Every request to the audit admin's pages, and every failed login, in `schema_audit_access`.

Only this app's admin views are wrapped (not the host project's whole site); the record is
written before the response is returned, so a page that cannot be recorded is not served.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable

from django.contrib.auth.signals import user_login_failed
from django.core.exceptions import PermissionDenied, SuspiciousOperation
from django.db import transaction
from django.dispatch import receiver
from django.http import Http404, HttpResponse
from django.urls import URLPattern

from schema_audit.ledger import access

# What a write request to each kind of admin URL attempts, by the URL name's last word: a
# refused approve or delete POST is recorded as that attempt with its 403, not as a view.
_DECLARED = {"approve": "approve", "revoke": "revoke", "delete": "delete", "add": "add"}
_SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def declared_action(url_name: str | None, method: str | None) -> str | None:
    """The write a request attempts (`approve`, `delete`, else `change`); None for a read."""
    if method in _SAFE_METHODS:
        return None
    return _DECLARED.get((url_name or "").rsplit("_", 1)[-1], "change")


def _action(request, response) -> str:
    explicit = getattr(request, "uap_access_action", None) or getattr(
        request, "uap_declared_action", None
    )
    if explicit:
        return explicit
    if getattr(response, "rows_exported", None) is not None:
        return "export"
    if response.get("Content-Type", "").startswith("application/zip"):
        return "evidence"
    return "view"


def _username(request) -> str | None:
    user = getattr(request, "user", None)
    return user.get_username() if user is not None and user.is_authenticated else None


def record_request(request, response, action: str | None = None) -> None:
    """One access record for a request to an audit admin page and its response."""
    access.record(
        username=_username(request),
        action=action or _action(request, response),
        method=request.method,
        path=request.path,
        query_string=request.META.get("QUERY_STRING", ""),
        status_code=response.status_code,
        rows_exported=getattr(response, "rows_exported", None),
        address=request.META.get("REMOTE_ADDR"),
    )


def audited(view: Callable, url_name: str | None = None) -> Callable:
    """The view, recording each request in the access log (as `url_name` declares)."""

    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        request.uap_declared_action = declared_action(url_name, request.method)
        try:
            response = view(request, *args, **kwargs)
            if getattr(response, "is_rendered", True) is False:
                # Rendered here, not after the record: a template that fails is a 500 in the
                # access log, not the 200 the unrendered response would have said.
                response.render()
        except (PermissionDenied, Http404) as exc:
            # Refused or missing pages are accesses too (an auditor probing the access log).
            status = 403 if isinstance(exc, PermissionDenied) else 404
            record_request(request, HttpResponse(status=status))
            raise
        except Exception as exc:
            # A page that fails is an access too: recorded with the status the client gets.
            status = 400 if isinstance(exc, SuspiciousOperation) else 500
            record_request(request, HttpResponse(status=status))
            raise
        record_request(request, response)
        return response

    # Under ATOMIC_REQUESTS the record would share the page's transaction and vanish with it
    # when the page fails; these pages only read, so they run in autocommit.
    return transaction.non_atomic_requests(wrapper)


def audited_urls(patterns: list) -> list:
    """The same URL patterns with every view wrapped by `audited`."""
    return [
        URLPattern(p.pattern, audited(p.callback, p.name), p.default_args, p.name)
        if isinstance(p, URLPattern)
        else p
        for p in patterns
    ]


@receiver(user_login_failed, dispatch_uid="schema_audit_login_failed")
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


def axes_client_str(username, ip_address, user_agent, path_info, request) -> str:
    """django-axes' `{username: "...", ...}` log text with each value JSON-escaped.

    A user name (or path) holding a newline would otherwise write a line of its own on the
    throttling logger; set AXES_CLIENT_STR_CALLABLE to this function's dotted path.
    """
    from axes.helpers import cleanse_parameters, get_client_parameters

    client = {}
    for parameters in get_client_parameters(username, ip_address, user_agent, request):
        client.update(parameters)
    client = cleanse_parameters(client)
    if isinstance(path_info, (tuple, list)):
        path_info = path_info[0] if path_info else ""
    client["path_info"] = path_info
    return (
        "{" + ", ".join(f"{key}: {json.dumps(str(value))}" for key, value in client.items()) + "}"
    )
