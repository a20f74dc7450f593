"""The modes of `uap_migrate`, each declared once: its flag, whether it changes the database,
its output formats, its call into schema_audit.api, its exit code and its renderer.

Everything else is read from this table: the command's mode arguments and its --format
checks, which modes a fleet runs on every target whatever fails, which ones it checks for
approvals first, and the mode its Resume with: line carries. A plain apply is the default.
"""

from __future__ import annotations

from schema_audit import api
from schema_audit.cli import approvals
from schema_audit.cli.mode import FLAG, TEXT_JSON, Mode, given  # noqa: F401 (the table's names)
from schema_audit.cli.reporter import Reporter
from schema_audit.exceptions import RefusedRequest
from schema_audit.ledger.terms import Status


# Keyword arguments of the API functions, from the command's options.
def _where(o: dict) -> dict:
    return {"directory": o["dir"], "database": o["database"]}


def _guarded(o: dict) -> dict:
    return {"reason": o["reason"], "lock_wait": o["lock_wait"]}


def _timeouts(o: dict) -> dict:
    return {"lock_timeout": o["lock_timeout"], "statement_timeout": o["statement_timeout"]}


def _retries(o: dict) -> dict:
    return {"lock_retries": o["lock_retries"], "lock_retry_wait": o["lock_retry_wait"]}


def _run_options(o: dict) -> dict:
    return {"target": o["target"], "out_of_order": o["out_of_order"], "lock_wait": o["lock_wait"]}


def _dry_run(o: dict) -> dict:
    role = o["dry_run_role"]
    return api.dry_run(
        **_where(o), **_run_options(o), **_timeouts(o), **_retries(o), trace=o["trace"], role=role
    )


def _repair(o: dict) -> dict:
    if not o["mark"]:
        raise RefusedRequest("--repair needs --mark completed or --mark failed")
    return api.repair(o["repair"], o["mark"], **_where(o), **_guarded(o))


def _rollback_to(o: dict) -> dict:
    return api.rollback_to(
        o["rollback_to"], **_where(o), **_guarded(o), dry_run=o["dry_run"], trace=o["trace"],
        **_timeouts(o),
    )  # fmt: skip


def _worst_error(result: dict) -> int:
    return max((error["exit_code"] for error in result["errors"]), default=0)


def _failed_file(result: dict) -> int:
    return 1 if result["failed"] else 0


def _up_to_date(status: dict) -> int:
    failed = any(m["status"] == Status.FAILED for m in status["migrations"])
    return 2 if status["problems"] or failed else 1 if status["total_pending"] else 0


NNN = {"metavar": "NNN"}

# In the order of --help. A mode that implies another is declared after it.
MODES = (
    Mode(
        "plan",
        "list what would run; change nothing",
        call=lambda o: api.migration_status(
            **_where(o), target=o["target"], out_of_order=o["out_of_order"]
        ),
        render=Reporter.plan,
        writes=False,
        exit_code=lambda status: 2 if status["problems"] else 0,
    ),
    Mode(
        "status",
        "table of every version",
        call=lambda o: api.migration_status(**_where(o)),
        render=Reporter.status,
        writes=False,
    ),
    Mode(
        "check",
        "exit 0 if up to date, 1 if migrations are pending, 2 on drift/failed/dirty",
        call=lambda o: api.migration_status(**_where(o)),
        render=Reporter.check,
        writes=False,
        exit_code=_up_to_date,
        json_exit_code=True,
        words={0: "up to date", 1: "pending", 2: "not consistent"},
    ),
    Mode(
        "dry_run",
        "run pending migrations in a transaction that is rolled back",
        call=_dry_run,
        render=Reporter.dry_run,
        writes=False,
        exit_code=_failed_file,
    ),
    Mode(
        "trace",
        "with (or implying) --dry-run: measure each statement's locks, rewrites and "
        "duration, and keep the trace on the dry_run event",
        call=_dry_run,
        render=Reporter.traced,
        writes=False,
        formats=(*TEXT_JSON, "markdown"),
        exit_code=_failed_file,
        implies="dry_run",
    ),
    Mode(
        "rollback",
        "run NNN's Rollback SQL",
        call=lambda o: api.rollback(
            o["rollback"], **_where(o), **_guarded(o), force=o["force"], **_timeouts(o)
        ),
        render=Reporter.operation,
        argument=NNN,
    ),
    Mode(
        "rollback_to",
        "roll back every applied version above VERSION (0: all), newest first, each with its "
        "Rollback SQL; with --dry-run or --trace, in a transaction that is rolled back",
        call=_rollback_to,
        render=Reporter.rolled_back_to,
        argument={"metavar": "VERSION"},
        exit_code=_worst_error,
        with_modes=("dry_run", "trace"),
    ),
    Mode(
        "baseline",
        "mark versions up to NNN as applied, unrun",
        call=lambda o: api.baseline(o["baseline"], **_where(o), **_guarded(o), force=o["force"]),
        render=Reporter.operation,
        argument=NNN,
    ),
    Mode(
        "import_history",
        "record the versions another runner's table says it applied (dbmate, golang-migrate, "
        "goose, diesel, flyway, yoyo, sqitch) as baselines; runs nothing",
        call=lambda o: api.import_history(o["import_history"], **_where(o), **_guarded(o)),
        render=Reporter.imported,
        argument={"metavar": "TOOL"},
    ),
    Mode(
        "repair",
        "resolve NNN's running row (with --mark)",
        call=_repair,
        render=Reporter.operation,
        argument=NNN,
    ),
    Mode(
        "accept_checksum",
        "record NNN's changed file checksum",
        call=lambda o: api.accept_checksum(o["accept_checksum"], **_where(o), **_guarded(o)),
        render=Reporter.operation,
        argument=NNN,
    ),
    Mode(
        "patch",
        "apply an emergency patch file",
        call=lambda o: api.apply_patch(
            o["patch"], o["database"], **_guarded(o), force=o["force"], **_timeouts(o)
        ),
        render=Reporter.operation,
        argument={"metavar": "FILE"},
        approval=approvals.patch_approved,
    ),
    Mode(
        "show",
        "print VERSION's SQL as it will run (session prefix, transaction mode, lock retries, "
        "Rollback), or as it ran",
        call=lambda o: api.show(
            o["show"],
            **_where(o),
            **_timeouts(o),
            lock_retries=o["lock_retries"],
            lock_retry_wait=o["lock_retry_wait"],
        ),
        render=Reporter.shown,
        writes=False,
        argument={"metavar": "VERSION"},
    ),
    Mode(
        "lint",
        "pre-deploy checklist over FILEs (default: every migration); no database",
        call=lambda o: api.lint_migrations(o["lint"], o["dir"], o["database"]),
        render=Reporter.lint,
        writes=False,
        argument={"nargs": "*", "metavar": "FILE"},
        formats=(*TEXT_JSON, "github", "gcc"),
        exit_code=lambda result: 2 if result["errors"] else 0,
        json_exit_code=True,
        database=False,
    ),
    Mode(
        "verify",
        "check the event log's hash chain and the schema fingerprint; exit 2 if not",
        call=lambda o: api.verify(o["database"]),
        render=Reporter.verify,
        writes=False,
        exit_code=lambda result: 0 if result["ok"] else 2,
        json_exit_code=True,
    ),
    Mode(
        "install_ddl_audit",
        "record DDL not run by uap_migrate in the event log (needs a superuser)",
        call=lambda o: api.install_ddl_audit(o["database"]),
        render=Reporter.ddl_audit_installed,
    ),
    Mode(
        "evidence",
        "write an evidence bundle",
        call=lambda o: {"path": o["evidence"], **api.export_evidence(o["evidence"], **_where(o))},
        render=Reporter.exported,
        writes=False,
        argument={"metavar": "OUT.zip"},
    ),
    Mode(
        "verify_evidence",
        "re-verify an evidence bundle offline (no database)",
        call=lambda o: {"path": o["verify_evidence"], **api.verify_evidence(o["verify_evidence"])},
        render=Reporter.evidence_verified,
        writes=False,
        argument={"metavar": "IN.zip"},
        exit_code=lambda result: 0 if result["verified"] else 2,
        json_exit_code=True,
        database=False,
    ),
)
# What runs when no mode is given.
APPLY = Mode(
    "apply",
    "apply every pending migration, each in its own transaction (no flag: the default)",
    call=lambda o: api.run_pending(
        **_where(o),
        **_run_options(o),
        **_timeouts(o),
        progress=o.get("progress"),
        **_retries(o),
    ),
    render=Reporter.applied,
    exit_code=_failed_file,
    approval=approvals.pending_files_approved,
)
BY_NAME = {mode.name: mode for mode in (*MODES, APPLY)}


def add_arguments(parser) -> None:
    """One argument per mode; the modes exclude each other, but for one implying another."""
    exclusive = parser.add_mutually_exclusive_group()
    for mode in MODES:
        where = parser if mode.implies or mode.with_modes else exclusive
        where.add_argument(mode.flag, help=mode.help, **mode.argument)


def format_help() -> str:
    """`--format`'s help: text or json for every mode, then each mode's own formats."""
    own = [
        f"{' or '.join(f for f in mode.formats if f not in TEXT_JSON)} with {mode.flag}"
        for mode in MODES
        if mode.formats != TEXT_JSON
    ]
    return "; ".join(["output: text or json", *own])


def format_choices() -> list[str]:
    """Every format some mode has."""
    return sorted({fmt for mode in MODES for fmt in mode.formats})


def mode_of(options: dict) -> Mode:
    """The mode the options ask for; RefusedRequest for one given with a mode it excludes.

    A mode that takes others as its options (--rollback-to with --dry-run) wins over them.
    """
    chosen = [mode for mode in MODES if given(options.get(mode.name))]
    for mode in (mode for mode in chosen if mode.with_modes):
        others = [
            other.flag for other in chosen if other.name not in (mode.name, *mode.with_modes)
        ]
        if others:
            allowed = " or ".join(BY_NAME[name].flag for name in mode.with_modes)
            raise RefusedRequest(f"{others[0]} does not go with {mode.flag} (only {allowed} do)")
        return mode
    for mode in chosen:
        if mode.implies and any(other.name not in (mode.name, mode.implies) for other in chosen):
            raise RefusedRequest(
                f"{mode.flag} goes with {BY_NAME[mode.implies].flag} (or alone, which implies it)"
            )
    implying = [mode for mode in chosen if mode.implies]
    return (implying or chosen or [APPLY])[0]


def output_format(mode: Mode, options: dict) -> str:
    """The --format for this mode; RefusedRequest when the mode has no such format."""
    chosen = options.get("format")
    if chosen is None:
        return "json" if options.get("json") else "text"
    if options.get("json") and chosen != "json":
        raise RefusedRequest(f"--json and --format {chosen} disagree; give one of them")
    if chosen not in mode.formats:
        what = "this mode" if mode.formats == TEXT_JSON else mode.flag
        raise RefusedRequest(
            f"--format {chosen} is not available for {what}; use one of {', '.join(mode.formats)}"
        )
    return chosen


def resume_flags(options: dict) -> list[str]:
    """The mode's flags (and values) as a command line gives them again."""
    argv: list[str] = []
    for mode in MODES:
        value = options.get(mode.name)
        if value is True:
            argv.append(mode.flag)
        elif given(value):
            argv += [mode.flag, str(value)]
    return argv
