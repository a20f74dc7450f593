"""What the engine's operations return: result types whose `as_dict()` is the API's JSON."""

from __future__ import annotations

from dataclasses import dataclass, field

from schema_audit.engine.outcome import Outcome
from schema_audit.engine.plan import Plan
from schema_audit.files.discovery import MigrationFile
from schema_audit.ledger import terms
from schema_audit.ledger.rows import LedgerRow


def file_dict(migration: MigrationFile, status: str = terms.Status.PENDING) -> dict:
    """A file on disk as the API lists it."""
    return {
        "version": migration.version,
        "name": migration.name,
        "status": status,
        "file": str(migration.path),
        "checksum": migration.checksum,
        "transactional": migration.transactional,
        "author": migration.header.author or None,
        "retired": migration.retired or None,
    }


def _entry_dict(entry) -> dict:
    row = entry.row or LedgerRow(entry.version, terms.Status.PENDING)  # a file never recorded
    return {
        "version": entry.version,
        "name": entry.name,
        "status": entry.status,
        "on_disk": entry.file is not None,
        "applied_at": row.applied_at.isoformat() if row.applied_at else None,
        "duration_ms": row.duration_ms,
        "checksum": (row.checksum or "").strip() or (entry.file.checksum if entry.file else None),
        "drift": entry.drift or None,
        "error_message": row.error_message,
    }


@dataclass(frozen=True)
class Status:
    """Every version of a plan: on disk, in the ledger, or both, and what blocks a run."""

    plan: Plan

    def as_dict(self) -> dict:
        """`{current_version, total_completed, total_pending, migrations, problems, ...}`."""
        entries, completed = self.plan.entries, terms.Status.COMPLETED
        return {
            "current_version": self.plan.current_version,
            "total_completed": sum(e.status == completed for e in entries),
            "total_pending": len(self.plan.pending),
            "migrations": [_entry_dict(entry) for entry in entries],
            "problems": self.plan.problems,
            "successful": 0,
            "failed": 0,
            "errors": [],
        }


@dataclass(frozen=True)
class PendingStatus:
    """A Status with what a run would apply, each file's approval, and what would stop it."""

    plan: Plan
    approvals: dict = field(default_factory=dict)  # version: approvals.ApprovalState
    refusals: list[str] = field(default_factory=list)
    approval_required: bool = False

    def as_dict(self) -> dict:
        """Status.as_dict() with `pending`, `approval_required` and the refusals in `problems`."""
        result = Status(self.plan).as_dict()
        result["pending"] = [
            {**file_dict(m), "approval": self.approvals[m.version].as_dict()}
            for m in self.plan.pending
        ]
        result["problems"] = result["problems"] + self.refusals
        result["approval_required"] = self.approval_required
        return result


@dataclass(frozen=True)
class RunResult:
    """An apply run: the plan read back after it, each file's Outcome, and what drifted."""

    plan: Plan
    outcomes: list[Outcome] = field(default_factory=list)
    errors: list[dict] = field(default_factory=list)
    drift: dict | None = None

    def as_dict(self) -> dict:
        """Status.as_dict() with `applied`, `successful`, `failed`, `errors`, `schema_drift`."""
        result = Status(self.plan).as_dict()
        result.update(
            applied=[o.as_dict() for o in self.outcomes],
            successful=sum(o.status == terms.Status.COMPLETED for o in self.outcomes),
            failed=sum(o.status == terms.Status.FAILED for o in self.outcomes),
            errors=self.errors,
            schema_drift=self.drift,
        )
        return result


@dataclass(frozen=True)
class DryRunResult:
    """A dry run: each pending file's Outcome, with its trace when it was traced."""

    plan: Plan
    outcomes: list[Outcome] = field(default_factory=list)
    tracer: object = None  # engine.trace.Tracer

    def as_dict(self) -> dict:
        """`{action, current_version, dry_run, successful, failed, skipped, errors, ...}`."""
        files = {m.version: m for m in self.plan.pending}
        results = [o.as_dict_in(files[o.version]) for o in self.outcomes]
        count = [o.status for o in self.outcomes].count
        return {
            "action": terms.Action.DRY_RUN,
            "current_version": self.plan.current_version,
            "dry_run": results,
            "successful": count(terms.Status.COMPLETED),
            "failed": count(terms.Status.FAILED),
            "skipped": count(terms.Status.SKIPPED),
            "errors": [r for r in results if r["status"] == terms.Status.FAILED],
            **(self.tracer.attach(results) if self.tracer else {}),
        }
