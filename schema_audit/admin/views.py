"""Admin pages beyond the changelists: the summary, CSV exports and the missing-ledger notice."""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Iterable, Iterator
from datetime import timezone as dt_timezone

import psycopg
from django.contrib import messages
from django.db.models import Count, Max
from django.http import HttpResponse, HttpResponseRedirect, StreamingHttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone

from schema_audit import api, conf, csv_safe
from schema_audit.admin import approval_views, charts, findings, fleet, queries
from schema_audit.admin.queries import slow_threshold, version_key
from schema_audit.engine import approvals
from schema_audit.exceptions import InvalidMigration, SchemaAuditError
from schema_audit.files import redact
from schema_audit.files.paths import shown_path
from schema_audit.ledger import store
from schema_audit.ledger.terms import Status
from schema_audit.models import MigrationEvent, SchemaMigration

logger = logging.getLogger(__name__)

CSV_BATCH_ROWS = 500  # rows per chunk written to the socket: few syscalls, flat memory
DB_CHUNK_ROWS = 2000  # rows per server-side cursor fetch
LISTED = 20  # rows shown per list on the summary page; the filters link to the rest
PENDING_LISTED = 200  # pending (and drifted) files listed; the CSV and --plan have them all


def ledger_missing(request, admin_site, title: str) -> TemplateResponse:
    """The notice shown instead of any page while the tracking tables do not exist."""
    context = {**admin_site.each_context(request), "title": title}
    context["foreign"] = queries.foreign_ledger(fleet.selected_database(request))
    return TemplateResponse(request, "admin/schema_audit/ledger_missing.html", context)


def _csv_chunks(header: list[str], rows: Iterable[tuple]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    for count, row in enumerate(rows, start=1):
        # Free text (header fields, rollback, errors) may quote a password: masked here too.
        writer.writerow([csv_safe.cell(redact.redact_value(value)) for value in row])
        if count % CSV_BATCH_ROWS == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def csv_response(queryset, columns: dict[str, str], stem: str) -> StreamingHttpResponse:
    """Stream `queryset` as CSV, one column per `{header: field or annotation}`."""
    rows = queryset.values_list(*columns.values()).iterator(chunk_size=DB_CHUNK_ROWS)
    response = StreamingHttpResponse(
        _csv_chunks(list(columns), rows), content_type="text/csv; charset=utf-8"
    )
    filename = f"{stem}_{timezone.localdate():%Y-%m-%d}.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    # Counted before the first byte leaves, so the access record exists even if the client
    # stops reading half way.
    response.rows_exported = queryset.count()
    return response


def _disk_report(ledger_ready: bool, database: str = "default", cap: bool = True) -> dict:
    """Pending and drifted files: the planner's verdict on the directory and the ledger."""
    try:
        found = queries.ledger_plan(database, ledger_ready)
    except InvalidMigration as exc:
        return {
            "directory_error": queries.shown_error(exc),
            "directory": queries.shown_to_auditors(),
        }
    pending = [{"file": file, "status": status} for file, status in found.pending]
    missing = []
    if found.missing:
        # The newest LISTED rows, for their links, in the planner's order (newest first).
        listed = found.missing[:LISTED]
        rows = SchemaMigration.objects.using(database).filter(version__in=listed)
        place = {version: n for n, version in enumerate(listed)}
        missing = sorted(rows, key=lambda row: place[row.version])
    return {
        "directory": queries.shown_to_auditors(),
        "files_on_disk": len(found.files),
        # The page lists the first PENDING_LISTED; 100,000 pending files made 27 MB of HTML.
        "pending": pending[:PENDING_LISTED] if cap else pending,
        "pending_total": len(pending),
        # Each with the planner's reason (`reason`) and the admin's wording of it (`shown`).
        "drifted": [
            {**item, "shown": findings.html(item["reason"])}
            for item in found.drifted[:PENDING_LISTED]
        ],
        "drifted_total": len(found.drifted),
        "missing_files": list(missing),
        "missing_total": len(found.missing),
        "planned_current": found.current_version,
    }


# The folder could not be read: the current version is the ledger's highest number.
_UNPLANNED = object()


def _ledger_report(database: str = "default", planned: object = _UNPLANNED) -> dict:
    """Counts by status, the current version, the slowest migrations and the last run.

    `planned`: the current version (or None) as the planner orders the folder's versions (a
    Flyway folder's 1.10 after 1.2.3, its repeatables never current); without it, the
    highest number in the ledger.
    """
    rows = SchemaMigration.objects.using(database)
    events = MigrationEvent.objects.using(database)
    counts = dict(rows.values_list("status").annotate(n=Count("pk")).order_by())
    if planned is not _UNPLANNED:
        current = rows.filter(version=planned).first() if planned else None
    else:
        current = (
            rows.alias(version_key=version_key())
            .filter(status__in=(Status.COMPLETED, Status.BASELINE))
            .order_by("-version_key")
            .first()
        )
    slowest = rows.filter(duration_ms__isnull=False).order_by("-duration_ms", "-applied_at")
    return {
        "counts": [
            (status, status.replace("_", " "), counts.get(status, 0)) for status in store.STATUSES
        ],
        "current": current,
        "slowest": list(slowest[:10]),
        "slow_total": rows.filter(duration_ms__gt=slow_threshold()).count(),
        "last_run": events.aggregate(last=Max("started_at"))["last"],
        "last_applied": rows.aggregate(last=Max("applied_at"))["last"],
        "events_total": events.count(),
    }


def _trends(database: str) -> dict:
    """The summary's two charts and, for screen readers, their numbers."""
    points = queries.applied_durations(database)
    weeks = queries.weekly_outcomes(database)
    return {
        "durations_chart": charts.durations(points, slow_threshold()),
        "durations": points,
        "weekly_chart": charts.weekly(weeks),
        "weekly": [
            (week, [counts.get(key, 0) for key, _, _ in charts.OUTCOMES]) for week, counts in weeks
        ],
        "outcome_labels": [label for _, label, _ in charts.OUTCOMES],
    }


def _integrity_report(database: str = "default") -> dict:
    """`uap_migrate --verify` for the summary: the hash chain, the schema fingerprint, the DDL
    audit, and how many detections the event log holds; a notice instead if a check fails."""
    try:
        result = api.verify(database, incremental=True)  # re-hashes only events not yet verified
    except (SchemaAuditError, psycopg.Error) as exc:
        logger.warning("summary: the integrity checks failed: %s", exc)
        return {"integrity_error": str(exc) or type(exc).__name__}
    detected = (
        MigrationEvent.objects.using(database)
        .filter(action__in=(store.OUT_OF_BAND_ACTION, store.DRIFT_ACTION))
        .values_list("action")
        .annotate(n=Count("pk"))
        .order_by()
    )
    counts = dict(detected)
    return {
        "history": result["history"],
        "schema": result["schema"],
        "ddl_audit": result["ddl_audit"],
        "out_of_band_since": result["out_of_band_ddl"][:LISTED],
        "out_of_band_since_total": len(result["out_of_band_ddl"]),
        "out_of_band_total": counts.get(store.OUT_OF_BAND_ACTION, 0),
        "drift_events_total": counts.get(store.DRIFT_ACTION, 0),
    }


def evidence_download(request) -> HttpResponse:
    """The evidence bundle (api.evidence_bundle) as a dated zip; reads, never writes."""
    try:
        bundle = api.evidence_bundle(database=fleet.selected_database(request))
    except (SchemaAuditError, psycopg.Error) as exc:
        logger.warning("evidence bundle not created: %s", exc)
        messages.error(request, f"The evidence bundle could not be created: {exc}")
        return HttpResponseRedirect(reverse("admin:schema_audit_summary"))
    created = timezone.now().astimezone(dt_timezone.utc)
    response = HttpResponse(bundle, content_type="application/zip")
    filename = f"schema_audit_evidence_{created:%Y-%m-%d_%H%M%S}Z.zip"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"  # a snapshot of the audit trail, not for caches
    return response


def pending_csv(request) -> StreamingHttpResponse:
    """Every pending file of the selected database as CSV (the summary lists the first ones)."""
    database = fleet.selected_database(request)
    report = _disk_report(queries.tracking_tables_ready(database), database, cap=False)
    folder = api.migrations_dir()
    # A file by its path in the folder (`2024-01-01-000001_a/up.sql`, `deploy/x.sql`).
    rows = (
        (i["file"].version, i["file"].name, i["status"],
         shown_path(i["file"].path, folder, private=True), i["file"].checksum)
        for i in report.get("pending", [])
    )  # fmt: skip
    header = ["version", "name", "status", "file", "checksum"]
    response = StreamingHttpResponse(_csv_chunks(header, rows), content_type="text/csv")
    response["Content-Disposition"] = 'attachment; filename="pending_migrations.csv"'
    response.rows_exported = len(report.get("pending", []))
    return response


def summary(request, admin_site) -> TemplateResponse:
    """Where the database stands: versions, counts, pending and drifted files, slow runs."""
    database = fleet.selected_database(request)
    down = fleet.unreachable(request, admin_site, "Schema audit summary")
    if down is not None:
        return down
    ready = queries.tracking_tables_ready(database)
    context = {
        **admin_site.each_context(request),
        **fleet.selector_context(request),
        "title": "Schema audit summary",
        "ledger_ready": ready,
        "foreign": None if ready else queries.foreign_ledger(database),
        "slow_ms": slow_threshold(),
        "slow_label": f"{slow_threshold():,} ms",
        "listed": LISTED,
        "db_query": fleet.database_query(request),
        "db_only": fleet.database_query(request, "?"),
        **_disk_report(ready, database),
    }
    planned = context.pop("planned_current", _UNPLANNED)
    context |= {
        **(_ledger_report(database, planned) if ready else {}),
        **(_integrity_report(database) if ready else {}),
        **(_trends(database) if ready else {}),
    }
    _add_approvals(request, context)
    return TemplateResponse(request, "admin/schema_audit/summary.html", context)


def _add_approvals(request, context: dict) -> None:
    """Each pending file's approval state, and whether this user may approve."""
    database = fleet.selected_database(request)
    pending = [item["file"] for item in context.get("pending", [])]
    # The summary has found the pending files already (_disk_report): only their approvals
    # are read, not all of a 100k-row ledger again.
    ready = context["ledger_ready"] and pending
    states = approval_views.approval_states(database, pending) if ready else {}
    required = conf.UAP_REQUIRE_APPROVAL
    for item in context.get("pending", []):
        state = item["approval"] = states.get(item["file"].version)
        # Without the gate a file nobody approved is normal, not a red badge.
        item["approval_shown"] = bool(state) and (
            required or state["state"] not in approvals.NOT_GIVEN
        )
    context["can_approve"] = approval_views.may_approve(request.user)
