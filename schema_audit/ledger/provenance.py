"""Who and why for every event: the application version and the change ticket."""

from __future__ import annotations

import functools
import logging
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

from django.conf import settings

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
    """UAP_APP_VERSION when the deploy sets it, else `git describe --always --dirty`."""
    explicit = getattr(settings, "UAP_APP_VERSION", "") or ""
    if explicit:
        return explicit
    base = getattr(settings, "BASE_DIR", None)
    return _git_describe(str(base)) if base and Path(base, ".git").exists() else ""


def ticket() -> str | None:
    """The change ticket of the current operation: `change_ticket()`, else UAP_CHANGE_TICKET."""
    return _ticket.get() or os.environ.get("UAP_CHANGE_TICKET") or None


@contextmanager
def change_ticket(reference: str | None) -> Iterator[None]:
    """Record `reference` as the ticket on every event written inside the block."""
    token = _ticket.set(reference or None)
    try:
        yield
    finally:
        _ticket.reset(token)
