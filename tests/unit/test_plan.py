"""The planner's rules, case by case: pending, applied, out-of-order, target, dirty, drift."""

from __future__ import annotations

from pathlib import Path

import pytest

from schema_audit.engine.plan import build_plan, drift_of, edited_row, ensure_runnable, reconcile
from schema_audit.exceptions import RefusedRequest
from schema_audit.files.discovery import MigrationFile, checksum
from schema_audit.files.header import parse_header
from schema_audit.ledger.rows import LastEvent, LedgerRow
from schema_audit.ledger.terms import Status

OTHER = "a" * 64  # a checksum no file below has
LOGGED = "b" * 64  # what an event recorded, differing from OTHER
RESTORE = (
    "; the row was edited outside uap_migrate. Restore it from schema_migration_events "
    "before deploying"
)


def mfile(version: str, body: str = "SELECT 1;") -> MigrationFile:
    """A migration file held in memory, as discovery would have read it."""
    text = (
        f"-- Migration: step {version}\n-- Version: {version}\n-- Rollback: SELECT 1;\n\n{body}\n"
    )
    return MigrationFile(
        version=version,
        name=f"v1.0_step_{version}",
        path=Path(f"db/migrations/{version}_v1.0_step_{version}.sql"),
        sql=text,
        checksum=checksum(text),
        header=parse_header(text),
        empty=not body,
    )


FILES = {v: mfile(v) for v in ("001", "002", "003")}
PLACEHOLDER = mfile("002", body="")


def disk(version: str) -> str:
    """The first 12 hex digits of a file's checksum, as messages quote it."""
    return FILES[version].checksum[:12]


def event(action: str = "apply", status: str = "completed", sum_: str | None = None, id_=7):
    """The last event of a ledger row as the store reads it."""
    return {"id": id_, "action": action, "status": status, "checksum": sum_}


def row(version: str, status: str = "completed", sum_: str | None = "", last=None) -> LedgerRow:
    """A ledger row as the store reads it; `sum_=""` means the file's own checksum."""
    if sum_ == "":
        sum_ = FILES[version].checksum if version in FILES else OTHER
    return LedgerRow(
        version=version,
        name=f"v1.0_step_{version}",
        checksum=sum_,
        status=Status(status),
        duration_ms=1,
        last_event=LastEvent(**last) if last else None,
    )


def rows(*items: LedgerRow) -> dict[str, LedgerRow]:
    return {item.version: item for item in items}


def versions(migrations) -> list[str]:
    return [m.version for m in migrations]


@pytest.mark.parametrize(
    "ledger, kwargs, pending, current, problems",
    [
        pytest.param({}, {}, ["001", "002", "003"], None, [], id="empty-ledger-all-pending"),
        pytest.param(rows(row("001")), {}, ["002", "003"], "001", [], id="one-applied"),
        pytest.param(rows(row("001"), row("002"), row("003")), {}, [], "003", [], id="up-to-date"),
        pytest.param(
            rows(row("001", "failed")),
            {},
            ["001", "002", "003"],
            None,
            [],
            id="failed-is-retried",
        ),
        pytest.param(
            rows(row("001"), row("002", "rolled_back")),
            {},
            ["003"],
            "001",
            [],
            id="rolled-back-never-rerun-nor-current",
        ),
        pytest.param(
            rows(row("001", "baseline"), row("002", "baseline")),
            {},
            ["003"],
            "002",
            [],
            id="baseline-counts-as-applied",
        ),
        pytest.param(
            rows(row("002")),
            {},
            ["001", "003"],
            "002",
            [
                "001 v1.0_step_001: pending but older than applied version 002; "
                "renumber it, or pass --out-of-order to apply it anyway"
            ],
            id="gap-below-applied-is-out-of-order",
        ),
        pytest.param(
            rows(row("002")),
            {"out_of_order": True},
            ["001", "003"],
            "002",
            [],
            id="out-of-order-allowed",
        ),
        pytest.param(
            rows(row("002", "rolled_back")),
            {},
            ["001", "003"],
            None,
            [
                "001 v1.0_step_001: pending but older than applied version 002; "
                "renumber it, or pass --out-of-order to apply it anyway"
            ],
            id="rolled-back-still-orders-the-history",
        ),
        pytest.param({}, {"target": "002"}, ["001", "002"], None, [], id="target-inclusive"),
        pytest.param({}, {"target": "2"}, ["001", "002"], None, [], id="target-by-number"),
        pytest.param(
            rows(row("001"), row("002")), {"target": "001"}, [], "002", [], id="target-behind"
        ),
        pytest.param(
            rows(row("001", "running")),
            {},
            ["002", "003"],
            None,
            [
                "001 v1.0_step_001: marked running, a run stopped inside this "
                "non-transactional migration. Check the schema, then run --repair 001 "
                "--mark completed (or failed)"
            ],
            id="running-row-is-dirty",
        ),
        pytest.param(
            rows(row("001", sum_=OTHER)),
            {},
            ["002", "003"],
            "001",
            [
                f"001 v1.0_step_001: file changed since it was applied (checksum "
                f"{OTHER[:12]}… recorded, {disk('001')}… on disk); "
                "restore it or run --accept-checksum 001"
            ],
            id="checksum-drift",
        ),
        pytest.param(
            rows(row("001"), row("002"), row("003"), row("004")),
            {},
            [],
            "004",
            ["004 v1.0_step_004: applied, but its file is missing from the migrations directory"],
            id="applied-file-missing",
        ),
        pytest.param(
            rows(row("004", "failed")),
            {},
            ["001", "002", "003"],
            None,
            [],
            id="failed-row-without-file-is-no-drift",
        ),
    ],
)
def test_build_plan(ledger, kwargs, pending, current, problems):
    """Which files a run applies, the version it starts from, and what stops it."""
    plan = build_plan(list(FILES.values()), ledger, **kwargs)
    assert versions(plan.pending) == pending
    assert plan.current_version == current
    assert plan.problems == problems


@pytest.mark.parametrize(
    "target", [pytest.param("004", id="not-on-disk"), pytest.param("abc", id="not-a-number")]
)
def test_build_plan_refuses_a_target_not_on_disk(target):
    """A target that names no file is refused before anything is planned."""
    with pytest.raises(RefusedRequest) as raised:
        build_plan(list(FILES.values()), {}, target=target)
    assert str(raised.value) == f"--target {target}: no migration with that version on disk"


def test_build_plan_refuses_a_target_that_only_looks_numeric():
    """A superscript digit is no version: refused like any other word."""
    with pytest.raises(RefusedRequest):
        build_plan(list(FILES.values()), {}, target="²")


def test_a_forged_ledger_row_with_a_superscript_version_does_not_crash_the_plan():
    """A row typed into the table by hand (`²`) is not a version of any file: the files stay
    pending, and the planner raises nothing."""
    plan = build_plan(list(FILES.values()), rows(row("²")))
    assert versions(plan.pending) == ["001", "002", "003"]


def test_build_plan_accepts_a_target_known_only_to_the_ledger():
    """A version recorded but gone from disk is still a known target."""
    plan = build_plan(list(FILES.values()), rows(row("004", "failed")), target="004")
    assert versions(plan.pending) == ["001", "002", "003"]


def test_placeholder_is_pending_like_any_file():
    """A header without statements is planned like a file with SQL."""
    plan = build_plan([FILES["001"], PLACEHOLDER, FILES["003"]], rows(row("001")))
    assert versions(plan.pending) == ["002", "003"]
    assert plan.pending[0].empty is True


def test_versions_are_ordered_numerically_not_as_text():
    """A 4-digit version comes after 3-digit ones; versions keep their spelling."""
    files = [mfile("1000"), mfile("010"), mfile("009")]
    plan = build_plan(files, {})
    assert versions(plan.pending) == ["009", "010", "1000"]
    assert [e.version for e in plan.entries] == ["009", "010", "1000"]


@pytest.mark.parametrize(
    "ledger, expected",
    [
        pytest.param({}, [("001", "pending", True, "")], id="file-only"),
        pytest.param(rows(row("001")), [("001", "completed", True, "")], id="file-and-row"),
        pytest.param(
            rows(row("001"), row("007", "failed")),
            [("001", "completed", True, ""), ("007", "failed", False, "")],
            id="row-only",
        ),
        pytest.param(
            {"patch_fix.sql": row("patch_fix.sql")},
            [("001", "pending", True, "")],
            id="non-numeric-row-ignored",
        ),
    ],
)
def test_reconcile(ledger, expected):
    """Every version on disk or in the ledger, once, with its status and drift."""
    entries = reconcile([FILES["001"]], ledger)
    assert [(e.version, e.status, e.file is not None, e.drift) for e in entries] == expected


def test_reconcile_names_a_row_only_version_by_its_row():
    """A version without a file keeps the name its row recorded."""
    [entry] = reconcile([], rows(row("004")))
    assert (entry.version, entry.name, entry.key) == ("004", "v1.0_step_004", (0, 4))


@pytest.mark.parametrize(
    "file, ledger_row, drift",
    [
        pytest.param(FILES["001"], None, "", id="never-recorded"),
        pytest.param(FILES["001"], row("001"), "", id="same-checksum"),
        pytest.param(FILES["001"], row("001", sum_=None), "", id="no-checksum-recorded"),
        pytest.param(
            FILES["001"],
            row("001", sum_=FILES["001"].checksum[:40] + " " * 24),
            f"file changed since it was applied (checksum {disk('001')}… recorded, "
            f"{disk('001')}… on disk); restore it or run --accept-checksum 001",
            id="truncated-checksum",
        ),
        pytest.param(
            FILES["001"], row("001", sum_=FILES["001"].checksum + "  "), "", id="char-padding"
        ),
        pytest.param(FILES["001"], row("001", "failed", sum_=OTHER), "", id="failed-not-applied"),
        pytest.param(
            FILES["001"], row("001", "running", sum_=OTHER), "", id="running-not-applied"
        ),
        pytest.param(
            FILES["001"],
            row("001", "baseline", sum_=OTHER),
            f"file changed since it was applied (checksum {OTHER[:12]}… recorded, "
            f"{disk('001')}… on disk); restore it or run --accept-checksum 001",
            id="baseline-drift",
        ),
        pytest.param(
            FILES["001"],
            row("001", "rolled_back", sum_=OTHER),
            f"file changed since it was applied (checksum {OTHER[:12]}… recorded, "
            f"{disk('001')}… on disk); restore it or run --accept-checksum 001",
            id="rolled-back-drift",
        ),
        pytest.param(
            None,
            row("001", "rolled_back"),
            "applied, but its file is missing from the migrations directory",
            id="rolled-back-file-missing",
        ),
        pytest.param(
            FILES["001"],
            row("001", last=event("apply", "failed")),
            f"row says completed but its last event (#7, apply) says failed{RESTORE}",
            id="row-edited-to-completed",
        ),
    ],
)
def test_drift_of(file, ledger_row, drift):
    """Why a version's row no longer matches its file or its own history."""
    assert drift_of(file, ledger_row) == drift


@pytest.mark.parametrize(
    "ledger_row, reason",
    [
        pytest.param(row("001", last=None), "", id="older-than-event-log"),
        pytest.param(
            row("001", last=event(sum_=FILES["001"].checksum)), "", id="agrees-with-apply"
        ),
        pytest.param(row("001", "failed", last=event("apply", "failed")), "", id="failed-agrees"),
        pytest.param(
            row("001", "running", last=event("apply", "completed")),
            "",
            id="running-is-reported-as-dirty-instead",
        ),
        pytest.param(
            row("001", "failed", last=event("apply", "completed", id_=12)),
            f"row says failed but its last event (#12, apply) says completed{RESTORE}",
            id="status-edited",
        ),
        pytest.param(
            row("001", "deleted", last=event("apply", "completed", id_=3)),
            f"row deleted from schema_migrations, but its last event (#3, apply) applied it"
            f"{RESTORE}",
            id="row-deleted",
        ),
        pytest.param(
            row("001", sum_=OTHER, last=event("accept_checksum", sum_=LOGGED, id_=5)),
            f"row checksum {OTHER[:12]}… differs from {LOGGED[:12]}… recorded by its last "
            f"event (#5, accept_checksum){RESTORE}",
            id="checksum-edited-after-accept",
        ),
        pytest.param(
            row("001", "baseline", sum_=None, last=event("baseline", sum_=LOGGED, id_=2)),
            f"row checksum empty… differs from {LOGGED[:12]}… recorded by its last event "
            f"(#2, baseline){RESTORE}",
            id="checksum-emptied",
        ),
        pytest.param(
            row("001", sum_=OTHER, last=event("rollback", sum_=LOGGED)),
            "",
            id="rollback-event-owns-no-checksum",
        ),
        pytest.param(
            row("001", sum_=OTHER, last=event("apply", sum_=None)),
            "",
            id="event-without-checksum",
        ),
        pytest.param(
            row("001", "rolled_back", sum_=OTHER, last=event("rollback", "rolled_back")),
            "",
            id="rollback-owns-its-status",
        ),
    ],
)
def test_edited_row(ledger_row, reason):
    """A row that disagrees with its last event was edited by hand."""
    assert edited_row(ledger_row) == reason


def test_ensure_runnable_lists_every_problem():
    """One refusal names every problem, each on its own line: drift, dirty, out-of-order."""
    plan = build_plan(
        list(FILES.values()), rows(row("001", "running"), row("002", sum_=OTHER), row("004"))
    )
    with pytest.raises(RefusedRequest) as raised:
        ensure_runnable(plan)
    lines = str(raised.value).split("\n")
    assert lines[0] == "refusing to run:"
    assert [line[:20] for line in lines[1:]] == [
        "  002 v1.0_step_002:",
        "  004 v1.0_step_004:",
        "  001 v1.0_step_001:",
        "  003 v1.0_step_003:",
    ]
    assert raised.value.exit_code == 2


def test_ensure_runnable_passes_a_clean_plan():
    """Nothing to refuse: no error."""
    assert ensure_runnable(build_plan(list(FILES.values()), rows(row("001")))) is None
