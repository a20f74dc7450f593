"""Stopping work from another thread: a fleet run's halt flag, Ctrl-C, and cancelling the
statement each of its connections runs.

A fleet run installs a `Control` for its targets (`controlled`); every connection opened
inside is registered with it, so an interruption can cancel the running statements. Outside a
fleet run there is no control and every check answers no.
"""

from __future__ import annotations

import contextvars
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

from schema_audit.exceptions import Interrupted

logger = logging.getLogger(__name__)


class Control:
    """What the main thread shares with the workers: the halt flag and their connections."""

    def __init__(self) -> None:
        self.halt = threading.Event()
        self.interrupted = threading.Event()
        self.lock = threading.Lock()
        self.connections: set[psycopg.Connection] = set()

    def track(self, conn: psycopg.Connection) -> None:
        with self.lock:
            self.connections.add(conn)

    def cancel_all(self) -> None:
        """Cancel the statement running on every open worker connection (from any thread)."""
        with self.lock:
            running = [conn for conn in self.connections if not conn.closed]
        for conn in running:
            try:
                conn.cancel_safe(timeout=5)
            except psycopg.Error as exc:
                logger.warning("could not cancel a fleet connection: %s", exc)


_control: contextvars.ContextVar[Control | None] = contextvars.ContextVar(
    "uap_fleet_control", default=None
)


@contextmanager
def controlled(control: Control) -> Iterator[Control]:
    """Within the block (and the contexts copied from it), `control` governs new work."""
    token = _control.set(control)
    try:
        yield control
    finally:
        _control.reset(token)


def track_connection(conn: psycopg.Connection) -> None:
    """Register a worker connection so an interruption can cancel its statement."""
    control = _control.get()
    if control is not None:
        control.track(conn)


def halt_requested() -> bool:
    """True once the fleet asked running targets to stop after their current file."""
    control = _control.get()
    return control is not None and control.halt.is_set()


def interrupted() -> bool:
    """True once the fleet was interrupted (Ctrl-C) and cancelled its targets' statements."""
    control = _control.get()
    return control is not None and control.interrupted.is_set()


def raise_if_interrupted(exc: BaseException) -> None:
    """Interrupted instead of a failure when the fleet cancelled the statement (Ctrl-C)."""
    if interrupted():
        raise Interrupted() from exc
