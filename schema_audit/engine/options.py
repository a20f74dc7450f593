"""A run's options with the settings' defaults filled in: resolved and checked in one place."""

from __future__ import annotations

from dataclasses import dataclass

from schema_audit import conf, db
from schema_audit.engine.session import check_duration


@dataclass(frozen=True)
class Options:
    """How long to wait for the runners' lock (seconds), and each file's timeouts."""

    lock_wait: float
    lock_timeout: str | None = None
    statement_timeout: str | None = None

    @classmethod
    def resolve(
        cls,
        lock_wait: float | None = None,
        lock_timeout: str | None = None,
        statement_timeout: str | None = None,
        *,
        timeouts: bool = True,
    ) -> Options:
        """The given values, else the run's lock wait and UAP_LOCK_WAIT, UAP_LOCK_TIMEOUT and
        UAP_STATEMENT_TIMEOUT; InvalidMigration or InvalidConfiguration for a bad one.

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
        )


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
