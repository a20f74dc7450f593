"""Changelist filters of the audit admin; each choice is a plain, bookmarkable query parameter."""

from __future__ import annotations

import functools
import operator

from django.contrib.admin import SimpleListFilter
from django.db.models import Q

from schema_audit.admin import queries
from schema_audit.admin.queries import slow_threshold, version_key  # noqa: F401 (re-exported)
from schema_audit.ledger import store
from schema_audit.ledger.terms import Status


class StatusFilter(SimpleListFilter):
    """The ledger status of a version."""

    title = "status"
    parameter_name = "status"
    statuses = store.STATUSES

    def lookups(self, request, model_admin):
        return [(status, status.replace("_", " ")) for status in self.statuses]

    def queryset(self, request, queryset):
        return queryset.filter(status=self.value()) if self.value() else queryset


class EventStatusFilter(StatusFilter):
    """An event's status: the ledger's, plus dry-run files not tried and audit detections."""

    statuses = store.EVENT_STATUSES


class ActionFilter(SimpleListFilter):
    """What an event did; the choices are the ledger's vocabulary, so no scan of the log."""

    title = "action"
    parameter_name = "action"

    def lookups(self, request, model_admin):
        return [(action, action.replace("_", " ")) for action in store.ACTIONS]

    def queryset(self, request, queryset):
        return queryset.filter(action=self.value()) if self.value() else queryset


class SlowFilter(SimpleListFilter):
    """Over UAP_SLOW_MIGRATION_MS, as in the guide's compliance query."""

    title = "duration"
    parameter_name = "slow"

    def lookups(self, request, model_admin):
        limit = slow_threshold()
        return [("yes", f"slow (over {limit:,} ms)"), ("no", f"{limit:,} ms or less")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(duration_ms__gt=slow_threshold())
        if self.value() == "no":
            return queryset.filter(duration_ms__lte=slow_threshold())
        return queryset


class ProblemFilter(SimpleListFilter):
    """Versions that need an auditor's attention: failed, rolled back, dirty or drifted."""

    title = "problems"
    parameter_name = "problem"
    STATUSES = {
        Status.FAILED: "failed",
        Status.ROLLED_BACK: "rolled back",
        Status.RUNNING: "running (dirty)",
    }

    def lookups(self, request, model_admin):
        return [("any", "any problem"), *self.STATUSES.items(), ("drift", "checksum drift")]

    def queryset(self, request, queryset):
        value = self.value()
        if value in self.STATUSES:
            return queryset.filter(status=value)
        if value not in ("any", "drift"):
            return queryset
        drift = queries.drift_q(request, queryset.db)
        if value == "drift":
            return queryset.filter(drift)
        return queryset.filter(Q(status__in=list(self.STATUSES)) | drift)


class EventProblemFilter(SimpleListFilter):
    """Events an auditor must look at: failures, schema drift and DDL run outside uap_migrate."""

    title = "problems"
    parameter_name = "problem"
    CHOICES = {
        Status.FAILED: ("failed", Q(status=Status.FAILED)),
        store.OUT_OF_BAND_ACTION: ("out-of-band DDL", Q(action=store.OUT_OF_BAND_ACTION)),
        store.DRIFT_ACTION: ("schema drift", Q(action=store.DRIFT_ACTION)),
    }

    def lookups(self, request, model_admin):
        return [("any", "any problem"), *((k, label) for k, (label, _) in self.CHOICES.items())]

    def queryset(self, request, queryset):
        if self.value() == "any":
            return queryset.filter(
                functools.reduce(operator.or_, (q for _, q in self.CHOICES.values()))
            )
        if self.value() in self.CHOICES:
            return queryset.filter(self.CHOICES[self.value()][1])
        return queryset


class DistinctValueFilter(SimpleListFilter):
    """Choices are the distinct values of `parameter_name` in the log; any value is a URL."""

    CHOICE_LIMIT = 100  # the sidebar stays short; rarer values still work as a typed URL
    newest_first = False

    def lookups(self, request, model_admin):
        field = self.parameter_name
        values = (
            model_admin.get_queryset(request)
            .filter(**{f"{field}__isnull": False})
            .order_by(f"-{field}" if self.newest_first else field)
            .values_list(field, flat=True)
            .distinct()
        )
        return [(value, value) for value in values[: self.CHOICE_LIMIT]]

    def queryset(self, request, queryset):
        return queryset.filter(**{self.parameter_name: self.value()}) if self.value() else queryset


class DatabaseUserFilter(DistinctValueFilter):
    """The database role that wrote the event (`applied_by`)."""

    title = "database user"
    parameter_name = "applied_by"


class OsUserFilter(DistinctValueFilter):
    """The operating-system user of the process that wrote the event."""

    title = "OS user"
    parameter_name = "os_user"


class ActorFilter(DistinctValueFilter):
    """Who deployed (`--actor`, UAP_ACTOR, the CI's user, the OS user) or approved."""

    title = "actor"
    parameter_name = "actor"


class TicketFilter(DistinctValueFilter):
    """The change ticket recorded with the event (`--ticket`, UAP_CHANGE_TICKET)."""

    title = "ticket"
    parameter_name = "ticket"


class RolloutFilter(DistinctValueFilter):
    """The fleet run that wrote the event; ids start with their UTC time, newest listed first."""

    title = "rollout"
    parameter_name = "rollout"
    newest_first = True
