"""Dry-run traces in the admin: the verdict, its reasons, each statement's locks and rewrites."""

from __future__ import annotations

from django.contrib.admin import SimpleListFilter
from django.db.models.expressions import RawSQL
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from schema_audit.admin.base import EMPTY, timestamp
from schema_audit.db.names import ledger_sql
from schema_audit.engine.trace_table import STATEMENT_COLUMNS, statement_cells
from schema_audit.engine.verdict import RANKED
from schema_audit.ledger.terms import Action, Status
from schema_audit.models import MigrationEvent

_VERDICT_IDS_SQL = (
    "SELECT id FROM {events} "
    f"WHERE action = '{Action.DRY_RUN}' AND trace IS NOT NULL AND trace->>'verdict' = %s"
)


def latest_before_apply(obj) -> MigrationEvent | None:
    """The newest traced dry run of `obj`'s version before the apply that completed it."""
    events = MigrationEvent.objects.using(obj._state.db).filter(
        version=obj.version, action=Action.DRY_RUN, trace__isnull=False
    )
    applied = (
        MigrationEvent.objects.using(obj._state.db)
        .filter(version=obj.version, action=Action.APPLY, status=Status.COMPLETED)
        .order_by("-id")
        .values_list("id", flat=True)
        .first()
    )
    if applied is not None:
        events = events.filter(id__lt=applied)
    return events.order_by("-id").first()


def trace_html(trace: dict | None, event: MigrationEvent | None = None):
    """The trace as a verdict badge, its reasons and a table of statements (all escaped)."""
    if not trace:
        return EMPTY
    try:
        if "lock_retry" in trace:
            return _lock_retry_html(trace["lock_retry"])
        return _trace_html(trace, event)
    except (KeyError, TypeError, AttributeError, ValueError, IndexError):
        # Anyone with INSERT on the event log can store any JSON there: the page still
        # renders, and says the trace is not one uap_migrate wrote.
        return mark_safe(
            '<p class="errornote" id="trace-unreadable">This trace is unreadable: it does not '
            "have the shape uap_migrate writes (a hand-made or altered row). Its raw JSON is "
            "in the evidence bundle.</p>"
        )


def _trace_html(trace: dict, event: MigrationEvent | None):
    verdict = trace.get("verdict", "")
    source = (
        format_html(
            '<p class="help">Dry run #{} at {}.</p>', event.id, timestamp(event.started_at)
        )
        if event
        else ""
    )
    reasons = format_html_join("", "<li>{}</li>", ((r,) for r in trace.get("reasons", ())))
    head = format_html_join("", "<th>{}</th>", ((c.lower(),) for c in STATEMENT_COLUMNS))
    rows = format_html_join(
        "",
        "<tr>{}</tr>",
        (
            (format_html_join("", "<td>{}</td>", ((c,) for c in statement_cells(s))),)
            for s in trace.get("statements", ())
        ),
    )
    return format_html(
        '{}<p><span class="uap-badge uap-trace-{}">{}</span></p><ul>{}</ul>'
        "<table><thead><tr>{}</tr></thead><tbody>{}</tbody></table>",
        source,
        verdict,
        verdict,
        reasons,
        head,
        rows,
    )


_HOLDER_COLUMNS = ("pid", "application", "mode", "relation", "query_start")


def _lock_retry_html(retry: dict):
    """A failed attempt of a retried file: which attempt, and who held the lock it waited for."""
    head = format_html_join("", "<th>{}</th>", ((c.replace("_", " "),) for c in _HOLDER_COLUMNS))
    rows = format_html_join(
        "",
        "<tr>{}</tr>",
        (
            (format_html_join("", "<td>{}</td>", ((str(h[c] or ""),) for c in _HOLDER_COLUMNS)),)
            for h in retry["holders"]
        ),
    )
    return format_html(
        '<p id="lock-retry">Attempt {} of at most {}: the lock was not available within the '
        "attempt's lock timeout, the file rolled back and ran again {} ms later.</p>"
        "<table><thead><tr>{}</tr></thead><tbody>{}</tbody></table>",
        int(retry["attempt"]),
        int(retry["attempts"]),
        int(retry["next_wait_ms"]),
        head,
        rows or format_html("<tr><td colspan=5>{}</td></tr>", "the holder had gone"),
    )


class DryRunVerdictFilter(SimpleListFilter):
    """Dry runs by the verdict of their trace: dangerous, review or safe."""

    title = "dry-run trace"
    parameter_name = "trace"

    def lookups(self, request, model_admin):
        return [(level, f"{level} dry runs") for level in reversed(RANKED)]

    def queryset(self, request, queryset):
        if self.value() not in RANKED:
            return queryset
        return queryset.filter(id__in=RawSQL(ledger_sql(_VERDICT_IDS_SQL), (self.value(),)))
