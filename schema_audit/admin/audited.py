"""Every request to the audit admin's pages in `schema_audit_access`, as each view declares it.

Only this app's admin views are wrapped (not the host project's whole site); the record is
written before the response is returned, so a page that cannot be recorded is not served.
Failed logins are recorded by schema_audit.signals.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass

from django.core.exceptions import ImproperlyConfigured, PermissionDenied, SuspiciousOperation
from django.db import transaction
from django.http import Http404, HttpResponse
from django.urls import URLPattern

from schema_audit.ledger import access
from schema_audit.ledger.schema import ACCESS_ACTIONS

_SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


@dataclass(frozen=True)
class Access:
    """What a request to an admin URL is in the access log: `read` for GET, HEAD and OPTIONS,
    `write` for any other method (a refused approve or delete POST is recorded as that
    attempt, with its 403)."""

    read: str = "view"
    write: str = "change"

    def __post_init__(self):
        unknown = {self.read, self.write} - set(ACCESS_ACTIONS)
        if unknown:
            raise ValueError(f"not an access-log action: {', '.join(sorted(unknown))}")

    def action(self, method: str | None) -> str:
        """The action a request with `method` is recorded as."""
        return self.read if method in _SAFE_METHODS else self.write


def logs_as(read: str = "view", write: str = "change") -> Callable[[Callable], Callable]:
    """Declare a view's access-log action (see Access); Django's view wrappers carry it."""

    def declare(view: Callable) -> Callable:
        view.access = Access(read, write)
        return view

    return declare


def _username(request) -> str | None:
    user = getattr(request, "user", None)
    return user.get_username() if user is not None and user.is_authenticated else None


def record_request(request, response, action: str) -> None:
    """One access record for a request to an audit admin page and its response."""
    access.record(
        username=_username(request),
        action=action,
        method=request.method,
        path=request.path,
        query_string=request.META.get("QUERY_STRING", ""),
        status_code=response.status_code,
        rows_exported=getattr(response, "rows_exported", None),
        address=request.META.get("REMOTE_ADDR"),
    )


def audited(view: Callable, declared: Access) -> Callable:
    """The view, recording each request in the access log as `declared` says."""

    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        action = declared.action(request.method)
        try:
            response = view(request, *args, **kwargs)
            if getattr(response, "is_rendered", True) is False:
                # Rendered here, not after the record: a template that fails is a 500 in the
                # access log, not the 200 the unrendered response would have said.
                response.render()
        except (PermissionDenied, Http404) as exc:
            # Refused or missing pages are accesses too (an auditor probing the access log).
            status = 403 if isinstance(exc, PermissionDenied) else 404
            record_request(request, HttpResponse(status=status), action)
            raise
        except Exception as exc:
            # A page that fails is an access too: recorded with the status the client gets.
            status = 400 if isinstance(exc, SuspiciousOperation) else 500
            record_request(request, HttpResponse(status=status), action)
            raise
        record_request(request, response, action)
        return response

    wrapper.access = declared
    # Under ATOMIC_REQUESTS the record would share the page's transaction and vanish with it
    # when the page fails; these pages only read, so they run in autocommit.
    return transaction.non_atomic_requests(wrapper)


def audited_urls(patterns: list, declared: dict[str | None, Access]) -> list:
    """The same URL patterns with every view wrapped by `audited`.

    Each view says what it is, with `logs_as` or in `declared` (by URL name, for the views
    Django's ModelAdmin adds): ImproperlyConfigured when one says nothing.
    """
    wrapped = []
    for p in patterns:
        if isinstance(p, URLPattern):
            found = getattr(p.callback, "access", None) or declared.get(p.name)
            if found is None:
                raise ImproperlyConfigured(
                    f"admin URL {p.name or p.pattern} declares no access-log action (logs_as)"
                )
            p = URLPattern(p.pattern, audited(p.callback, found), p.default_args, p.name)
        wrapped.append(p)
    return wrapped


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
