"""Fleet rollout: one command over many database aliases, canary first, each target on its own.

Every target keeps its own advisory lock, ledger and events; this module only decides which
targets run, in what order and how many at once, and stops or cancels them.
"""

from __future__ import annotations

import contextvars
import logging
import re
import secrets
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timezone

from django.conf import settings
from django.db import connections
from django.utils.connection import ConnectionDoesNotExist

from schema_audit import conf
from schema_audit.db import cancel
from schema_audit.db.cancel import halt_requested  # noqa: F401 (asked by a fleet's targets)
from schema_audit.exceptions import InvalidConfiguration, RefusedRequest
from schema_audit.ledger import provenance

logger = logging.getLogger(__name__)

ON_ERROR = ("stop", "continue")
# The most severe exit code wins: an interruption, then an unreachable target, then a refusal
# (drift, dirty, invalid input), then a failed file.
SEVERITY = (130, 3, 2, 1)
NOT_STARTED = "not_started"


@dataclass
class TargetResult:
    """What one target did: its exit code, status word, timing and the mode's own result."""

    alias: str
    code: int
    status: str
    seconds: float = 0.0
    result: dict | None = None
    error: str | None = None

    def as_dict(self) -> dict:
        """JSON-ready form."""
        return dict(self.__dict__)


@dataclass
class Rollout:
    """A fleet run: its id, the targets in order, and each one's result as it finishes."""

    rollout_id: str
    targets: list[str]
    canary: str | None = None
    results: dict[str, TargetResult] = field(default_factory=dict)
    interrupted: bool = False

    @property
    def exit_code(self) -> int:
        """The most severe of the targets' codes (SEVERITY order); 0 when all are done."""
        codes = {r.code for r in self.results.values()}
        if self.interrupted:
            codes.add(130)
        return next((code for code in SEVERITY if code in codes), 0)

    def ordered(self) -> list[TargetResult]:
        """Results in target order, a placeholder for every target that never started."""
        return [
            self.results.get(alias) or TargetResult(alias, 0, NOT_STARTED)
            for alias in self.targets
        ]


Work = Callable[[str], TargetResult]
Listener = Callable[[str, str, "TargetResult | None"], None]


def is_postgres(alias: str) -> bool:
    """True when the alias's engine speaks PostgreSQL (postgresql, postgis, embedded)."""
    try:
        return connections[alias].vendor == "postgresql"
    except ConnectionDoesNotExist:
        return False


def resolve_targets(database: str | None, all_databases: bool) -> list[str]:
    """The aliases a command addresses, in order; InvalidConfiguration naming a bad one."""
    if all_databases:
        if database:
            raise RefusedRequest("--all-databases and --database exclude each other")
        fleet = conf.UAP_FLEET
        if fleet is None:
            return [alias for alias in settings.DATABASES if is_postgres(alias)]
        _check_aliases(fleet, "UAP_FLEET")
        return list(fleet)
    names = [name.strip() for name in (database or "default").split(",")]
    if any(not name for name in names):
        raise InvalidConfiguration(f"--database {database!r}: an empty alias in the list")
    targets = list(dict.fromkeys(names))
    _check_aliases(targets, "--database")
    return targets


def _check_aliases(aliases: list[str], where: str) -> None:
    unknown = [alias for alias in aliases if alias not in settings.DATABASES]
    if unknown:
        raise InvalidConfiguration(
            f"{where} {_listed(unknown)}: no such alias in DATABASES "
            f"(configured: {_listed(list(settings.DATABASES))})"
        )
    wrong = [alias for alias in aliases if not is_postgres(alias)]
    if wrong:
        raise InvalidConfiguration(f"{where} {_listed(wrong)}: not a PostgreSQL database")


def _listed(names: list[str], shown: int = 10) -> str:
    """Names for a message, the first few only: a pasted list may hold thousands."""
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


def new_rollout_id() -> str:
    """A sortable, unique id: UTC time of the start plus random hex."""
    return f"{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


ROLLOUT_ID_RE = re.compile(r"\d{8}T\d{6}Z-[0-9a-f]{6}")


def checked_rollout_id(rollout_id: str | None) -> str | None:
    """`rollout_id` when it has the form new_rollout_id gives; RefusedRequest otherwise."""
    if rollout_id is not None and not ROLLOUT_ID_RE.fullmatch(rollout_id):
        raise RefusedRequest(
            f"--rollout {rollout_id!r}: not a rollout id (like 20260101T120000Z-a1b2c3); "
            "copy it from the fleet run's Rollout line or its Resume with: line"
        )
    return rollout_id


def roll_out(
    targets: list[str],
    work: Work,
    *,
    canary: str | None = None,
    parallel: int = 1,
    on_error: str = "stop",
    listener: Listener | None = None,
    rollout_id: str | None = None,
) -> Rollout:
    """Run `work(alias)` on every target: the canary alone first, then `parallel` at a time.

    `rollout_id` continues an earlier rollout (its resume) instead of starting a new one.
    """
    if parallel < 1:
        raise RefusedRequest(f"--parallel {parallel}: give 1 or more")
    if on_error not in ON_ERROR:
        raise RefusedRequest(f"--on-error {on_error!r}: choose stop or continue")
    if canary is not None and canary not in targets:
        raise RefusedRequest(
            f"--canary {canary}: not one of the targets ({', '.join(targets)}); "
            "add it to --database or use --all-databases"
        )
    order = [canary, *(a for a in targets if a != canary)] if canary else list(targets)
    rollout = Rollout(checked_rollout_id(rollout_id) or new_rollout_id(), order, canary)
    notify = listener or (lambda *args: None)
    control = cancel.Control()
    with cancel.controlled(control), provenance.fleet_rollout(rollout.rollout_id):
        _schedule(rollout, work, control, parallel, on_error, notify)
    return rollout


def _schedule(rollout, work, control, parallel, on_error, notify) -> None:
    queue = list(rollout.targets)
    with ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="uap-fleet") as pool:
        running: dict[Future, str] = {}
        try:
            if rollout.canary:
                # The canary runs alone; the others wait for its verdict.
                queue.pop(0)
                _wait_all(_start(pool, running, rollout.canary, work, notify), rollout, notify)
                running.clear()
                if rollout.results[rollout.canary].code != 0:
                    return
            while queue or running:
                while queue and len(running) < parallel and not control.halt.is_set():
                    _start(pool, running, queue.pop(0), work, notify)
                if not running:
                    return
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    result = _finish(future, running.pop(future), rollout, notify)
                    if result.code != 0 and on_error == "stop":
                        control.halt.set()
        except KeyboardInterrupt:
            _interrupt(rollout, control, running, notify)


def _start(pool, running: dict, alias: str, work: Work, notify) -> dict:
    notify("start", alias, None)
    # Each task gets its own copy of the context: the rollout id, ticket and fleet control
    # travel with it into the worker thread.
    future = pool.submit(contextvars.copy_context().run, _timed, work, alias)
    running[future] = alias
    return {future: alias}


def _timed(work: Work, alias: str) -> TargetResult:
    clock = time.perf_counter()
    result = work(alias)
    result.seconds = time.perf_counter() - clock
    return result


def _finish(future: Future, alias: str, rollout: Rollout, notify) -> TargetResult:
    result = future.result()
    rollout.results[alias] = result
    notify("done", alias, result)
    return result


def _wait_all(futures: dict, rollout: Rollout, notify) -> None:
    for future in futures:
        _finish(future, futures[future], rollout, notify)


def _interrupt(rollout: Rollout, control: cancel.Control, running: dict, notify) -> None:
    """Ctrl-C: no new target or file starts, every running statement is cancelled."""
    rollout.interrupted = True
    control.halt.set()
    control.interrupted.set()
    control.cancel_all()
    for future, alias in running.items():
        while True:
            try:
                _finish(future, alias, rollout, notify)
                break
            except KeyboardInterrupt:
                control.cancel_all()  # a second Ctrl-C: cancel again, keep waiting
