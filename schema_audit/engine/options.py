"""A run's options with the settings' defaults filled in: resolved and checked in one place."""

from __future__ import annotations

import math
from dataclasses import dataclass

from schema_audit import conf, db
from schema_audit.engine.lock_retry import RetryPolicy
from schema_audit.engine.session import check_duration
from schema_audit.exceptions import RefusedRequest


@dataclass(frozen=True)
class Options:
    """How long to wait for the runners' lock (seconds), and each file's timeouts."""

    lock_wait: float
    lock_timeout: str | None = None
    statement_timeout: str | None = None
    retry: RetryPolicy = RetryPolicy()
    retry_timeout: str = "100ms"

    @classmethod
    def resolve(
        cls,
        lock_wait: float | None = None,
        lock_timeout: str | None = None,
        statement_timeout: str | None = None,
        *,
        timeouts: bool = True,
        lock_retries: int | None = None,
        lock_retry_wait: float | None = None,
    ) -> Options:
        """The given values, else the run's lock wait and UAP_LOCK_WAIT, UAP_LOCK_TIMEOUT,
        UAP_STATEMENT_TIMEOUT, UAP_LOCK_RETRIES, UAP_LOCK_RETRY_WAIT and
        UAP_LOCK_RETRY_TIMEOUT; InvalidMigration, RefusedRequest or InvalidConfiguration for
        a bad one.

        Without `timeouts` (an operation that runs no SQL of a file) only the lock wait.
        """
        if not timeouts:
            return cls(db.lock_wait_seconds(lock_wait))
        return cls(
            lock_wait=db.lock_wait_seconds(lock_wait),
            lock_timeout=check_duration("--lock-timeout", lock_timeout or conf.UAP_LOCK_TIMEOUT),
            statement_timeout=check_duration(
                "--statement-timeout", statement_timeout or conf.UAP_STATEMENT_TIMEOUT
            ),
            retry=retry_policy(lock_retries, lock_retry_wait),
            retry_timeout=conf.UAP_LOCK_RETRY_TIMEOUT,
        )


def retry_policy(retries: int | None, wait: float | None) -> RetryPolicy:
    """--lock-retries and --lock-retry-wait, else UAP_LOCK_RETRIES and UAP_LOCK_RETRY_WAIT."""
    retries = conf.UAP_LOCK_RETRIES if retries is None else retries
    wait = conf.UAP_LOCK_RETRY_WAIT if wait is None else wait
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise RefusedRequest(f"--lock-retries {retries!r}: give a whole number, 0 or more")
    if isinstance(wait, bool) or not isinstance(wait, int | float) or not 0 <= wait < math.inf:
        raise RefusedRequest(f"--lock-retry-wait {wait!r}: give seconds, 0 or more")
    return RetryPolicy(retries, float(wait))


def dry_run_role(role: str | None) -> str:
    """The role a dry run's files run as: `role`, else UAP_DRY_RUN_ROLE ("" for none)."""
    return conf.UAP_DRY_RUN_ROLE if role is None else role


def lint_pg_version(database: str) -> tuple[int, str]:
    """`(major version, source)` the lint rules assume: UAP_LINT_PG_VERSION ("setting"), else
    the server of `database` if it answers at once ("server"), else lint's default."""
    if conf.UAP_LINT_PG_VERSION is not None:
        return conf.UAP_LINT_PG_VERSION, "setting"
    version = db.server_major(database)
    if version is not None:
        return version, "server"
    from schema_audit.files import lint  # PostgreSQL's parser: loaded only to lint

    return lint.DEFAULT_PG_VERSION, "default"
