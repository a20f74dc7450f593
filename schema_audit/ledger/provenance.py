"""Who and why for every event: the application version, the change ticket, the actor and
the reason an operation runs."""

from __future__ import annotations

import functools
import getpass
import logging
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from schema_audit import conf
from schema_audit.conf import ACTOR_MAX_LENGTH, check_actor  # noqa: F401 (--actor's rule)

logger = logging.getLogger(__name__)

_ticket: ContextVar[str | None] = ContextVar("uap_change_ticket", default=None)


@functools.cache
def _git_describe(directory: str) -> str:
    try:
        done = subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            cwd=directory,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        logger.debug("git describe unavailable: %s", exc)
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def app_version() -> str:
    """UAP_APP_VERSION when set, else `git describe --always --dirty` of the migrations."""
    explicit = conf.UAP_APP_VERSION
    if explicit:
        return explicit
    # The checkout that holds the migrations is the one being deployed.
    folder = conf.UAP_MIGRATIONS_DIR
    return _git_describe(str(folder.resolve())) if folder.is_dir() else ""


def ticket() -> str | None:
    """The change ticket of the current operation: `change_ticket()`, else UAP_CHANGE_TICKET."""
    return _ticket.get() or conf.UAP_CHANGE_TICKET or None


@contextmanager
def change_ticket(reference: str | None) -> Iterator[None]:
    """Record `reference` as the ticket on every event written inside the block."""
    token = _ticket.set(reference or None)
    try:
        yield
    finally:
        _ticket.reset(token)


_rollout: ContextVar[str | None] = ContextVar("uap_rollout", default=None)


def rollout() -> str | None:
    """The id of the fleet rollout the current operation belongs to, or None."""
    return _rollout.get()


@contextmanager
def fleet_rollout(rollout_id: str | None) -> Iterator[None]:
    """Record `rollout_id` as the rollout on every event written inside the block."""
    token = _rollout.set(rollout_id or None)
    try:
        yield
    finally:
        _rollout.reset(token)


_actor: ContextVar[str | None] = ContextVar("uap_actor", default=None)

# Who started a CI job, per CI: the first variable set names the person or pipeline.
CI_ACTORS = (
    ("GITHUB_ACTOR", "GitHub Actions"),
    ("GITLAB_USER_LOGIN", "GitLab CI"),
    ("BUILD_USER_ID", "Jenkins"),
    ("BUILD_TAG", "Jenkins"),
    ("BUILDKITE_BUILD_CREATOR_EMAIL", "Buildkite"),
    ("BUILDKITE_BUILD_CREATOR", "Buildkite"),
    ("CIRCLE_USERNAME", "CircleCI"),
)


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())


def actor() -> str:
    """Who deployed: `deploy_actor()`, else UAP_ACTOR, else the CI's own variables, else the
    OS user."""
    explicit = _actor.get() or conf.UAP_ACTOR
    if explicit:
        return explicit
    for variable, ci in CI_ACTORS:
        value = os.environ.get(variable, "").strip()
        if value:
            try:
                return f"{check_actor(value)} ({ci})"
            except ValueError:
                logger.warning("actor: %s is not usable; ignored", variable)
    return _os_user()


@contextmanager
def deploy_actor(name: str | None) -> Iterator[None]:
    """Record `name` as the actor of every event written inside the block."""
    token = _actor.set(name or None)
    try:
        yield
    finally:
        _actor.reset(token)


_reason: ContextVar[str | None] = ContextVar("uap_reason", default=None)


def reason() -> str | None:
    """Why the current operation runs (`run_reason()`), for an event that gives no reason."""
    return _reason.get()


@contextmanager
def run_reason(text: str | None) -> Iterator[None]:
    """Record `text` as the reason of every event written inside the block that has none of
    its own (a Django migration applying SQL files names itself this way)."""
    token = _reason.set(text or None)
    try:
        yield
    finally:
        _reason.reset(token)
