"""What `uap_migrate` prints about versions taken one by one: `--rollback-to` (each rollback,
or each rehearsed one with its trace) and `--show` (a version's SQL as it will run or ran)."""

from __future__ import annotations

from schema_audit.engine.trace_table import STATEMENT_COLUMNS
from schema_audit.ledger.terms import Status

OK, FAIL = "✓", "✗"


class VersionReport:
    """The Reporter's output for --rollback-to and --show."""

    def rolled_back_to(self, result: dict, code: int) -> None:
        """A line per version rolled back (or rehearsed), the errors, and where it ends."""
        for item in result["rollbacks"]:
            self._rollback_line(item, result["rehearsed"])
        for error in result["errors"]:
            self.err.write(self.style.ERROR(f"error: {error['message']}"))
        at, target = result["current_version"] or "none", result["version"]
        count = result["successful"]
        if result["rehearsed"]:
            skipped = sum(1 for item in result["rollbacks"] if item["status"] == Status.SKIPPED)
            self.out.write(
                f"Dry run of --rollback-to {target}: {count} would roll back, "
                f"{result['failed']} would fail, {skipped} skipped; everything was rolled "
                f"back; database still at version {at}."
            )
        elif result["failed"]:
            failed = result["errors"][0]["version"]
            self.out.write(
                f"Rolled back {count} version(s), then {failed} failed; database at version "
                f"{at}. Fix its Rollback SQL (or undo it by hand with --patch) and run again."
            )
        elif count:
            total = sum(item["duration_ms"] for item in result["rollbacks"])
            self.out.write(
                f"Rolled back {count} version(s) to {target} in {total} ms; database at version "
                f"{at}. They are rolled_back and will not run again."
            )
        else:
            self.out.write(f"Nothing to roll back; database at version {at}.")

    def _rollback_line(self, item: dict, dry_run: bool) -> None:
        label = f"{item['version']} {item['name']}"
        if item["status"] == Status.FAILED:
            would = "FAILS" if dry_run else "FAILED"
            self.out.write(f"{self.style.ERROR(FAIL)} {label}  {would}")
        elif item["status"] == Status.SKIPPED:
            self.out.write(f"- {label}  skipped: {item['error']}")
        else:
            done = "ok" if dry_run else "rolled back"
            self.out.write(f"{self.style.SUCCESS(OK)} {label}  {item['duration_ms']} ms  {done}")
        trace = item.get("trace")
        if trace:
            for reason in trace["reasons"]:
                self.out.write(f"    {trace['verdict']}: {reason}")
            self._table(STATEMENT_COLUMNS, trace["statements"])

    def shown(self, result: dict, code: int) -> None:
        """The version's SQL as it will run, or as it ran, as SQL comments and statements."""
        where = f"{result['file']}, checksum {result['checksum'][:12]}…" if result["file"] else (
            "its file is not on disk"
        )  # fmt: skip
        self.out.write(f"-- {result['version']} {result['name']}: {result['status']} ({where})")
        if result.get("retired"):
            self.out.write(
                f"-- Retired: {result['retired']}. It never runs: where it is pending, a run "
                "records it rolled_back without running its SQL."
            )
        ran = result["ran"]
        if ran:
            self.out.write(
                f"-- As it ran: event #{ran['event_id']} at {ran['started_at']} by "
                f"{ran['applied_by']}, checksum {(ran['checksum'] or '')[:12]}…"
            )
            self._sql(ran["sql_text"] or "")
            if result["drift"]:
                self.out.write(self.style.ERROR(f"-- DRIFT: {result['drift']}"))
            elif result["file"]:
                self.out.write("-- The file on disk matches what ran.")
        elif (
            result["status"] in (Status.PENDING, Status.FAILED)
            and result["sql"] is not None
            and not result.get("retired")
        ):
            self._will_run(result)
        else:
            self.out.write(f"-- Nothing ran: it is {result['status']} without an apply event.")
        self.out.write("-- Rollback:")
        if result["rollback_problem"]:
            self.out.write(f"--   {result['rollback_problem']}: --rollback refuses it")
        if result["rollback"]:
            self._sql(result["rollback"])

    def _will_run(self, result: dict) -> None:
        retry = result["lock_retry"]
        if result["transactional"]:
            self.out.write(
                "-- As it will run: in one transaction with its ledger record, then COMMIT."
            )
        else:
            self.out.write(
                "-- As it will run: outside a transaction (-- Transaction: none), statement by "
                "statement, each committed by itself; the row says running until the last."
            )
        self._lock_waits(result["transactional"], retry)
        if result["transactional"]:
            self.out.write("BEGIN;")
            self.out.write(result["session_prefix"].strip())
            self._sql(result["sql"])
            self.out.write("COMMIT;")
            return
        self.out.write(result["session_prefix"].strip())
        if result["statements"] is None:  # not parsable: a run refuses it up front
            self._sql(result["sql"])
        for index, statement in enumerate(result["statements"] or [], start=1):
            how = "retried on 55P03" if statement["retried"] else "runs once"
            self.out.write(f"-- statement {index}, line {statement['line']} ({how})")
            if statement["prefix"]:
                self.out.write(statement["prefix"].strip())
            self._sql(statement["text"].rstrip().rstrip(";") + ";")

    def _lock_waits(self, transactional: bool, retry: dict) -> None:
        """How long a lock is waited for, and whether a lock timeout runs it again."""
        again = (
            f"up to {retry['retries']} more time(s) within {retry['wait_seconds']:g} s of waiting"
        )
        if retry["retries"] and transactional:
            self.out.write(
                f"-- Lock waits: each attempt waits at most {retry['attempt_lock_timeout']} for a "
                f"lock; on 55P03 the file rolls back and runs again, {again}."
            )
        elif retry["retries"]:
            self.out.write(
                f"-- Lock waits: a statement that can run in a transaction block waits at most "
                f"{retry['attempt_lock_timeout']} for a lock and runs again on 55P03, {again}; "
                f"CONCURRENTLY, VACUUM, CALL and DO run once with {retry['lock_timeout']}."
            )
        else:
            why = f" (-- Lock-Retries: {retry['header']})" if retry["header"] else ""
            self.out.write(
                f"-- Lock waits: up to {retry['attempt_lock_timeout']} per lock, not retried{why}."
            )

    def _sql(self, text: str) -> None:
        for line in text.strip("\n").splitlines():
            self.out.write(line)
