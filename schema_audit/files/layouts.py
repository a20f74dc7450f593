"""Whose folder a migrations directory is (this runner's, dbmate's, diesel's, ...), decided from
the names in one listing of it. No database; reads no file but to tell dbmate from goose.

dbmate and goose both name files `<version>_<name>.sql`; the marker inside tells them apart
(`-- migrate:up` or `-- +goose Up`), so `detect` asks a `sniff` callback for those names only.
A folder of this runner's own files never reaches it: one pattern match per name decides.
"""

from __future__ import annotations

import contextvars
import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from schema_audit.exceptions import InvalidMigration
from schema_audit.files.naming import FILENAME_RE

UAP = "uap"
DBMATE = "dbmate"
GOLANG_MIGRATE = "golang-migrate"
GOOSE = "goose"
DIESEL = "diesel"
FLYWAY = "flyway"
SQITCH = "sqitch"
# What `--layout` will accept.
LAYOUTS = (UAP, DBMATE, GOLANG_MIGRATE, GOOSE, DIESEL, FLYWAY, SQITCH)

# golang-migrate's own pattern (source/parse.go), for the `.sql` extension.
SPLIT_RE = re.compile(r"^([0-9]+)_(.*)\.(up|down)\.sql$")
# dbmate's and goose's: a version, `_`, a name.
SINGLE_RE = re.compile(r"^([0-9]+)_(.*)\.sql$")
# diesel's folder: the version is what precedes the first `_`, its dashes dropped.
DIESEL_RE = re.compile(r"^([0-9][0-9-]*)_(.*)$")
FLYWAY_RE = re.compile(r"^(?:[VUB][0-9][^_]*|R)__.*\.sql$")
GOOSE_GO_RE = re.compile(r"^[0-9]+_.*\.go$")
# What a migrations folder keeps beside its files without being a migration: notes, and
# copies of SQL files (`.sql~`, `.sql.orig`, `.SQL`).
_KEPT_BESIDE_RE = re.compile(r"\.sql|\.(?:md|markdown|txt|rst|adoc)$|^(?:readme|license)", re.I)
# The marked family: dbmate or goose, told apart by the marker inside.
_MARKED = "marked"

EXPECTED = {
    UAP: "NNN_vX.Y_description.sql (e.g. 005_v1.4_add_team_invites.sql)",
    DBMATE: "<version>_<name>.sql with `-- migrate:up` (e.g. 20240101000000_create_items.sql)",
    GOLANG_MIGRATE: "<version>_<name>.up.sql and .down.sql (e.g. 000001_create_items.up.sql)",
    GOOSE: "<version>_<name>.sql with `-- +goose Up` (e.g. 00001_create_items.sql)",
    DIESEL: "<version>_<name>/up.sql (e.g. 2024-01-01-000000_create_items/up.sql)",
    FLYWAY: "V<version>__<description>.sql, U<version>__ undo, R__<description>.sql "
    "(e.g. V1.2__create_items.sql)",
    SQITCH: "sqitch.plan naming deploy/<change>.sql (e.g. deploy/create_items.sql)",
}


@dataclass(frozen=True)
class Scan:
    """One listing of a migrations directory: its `.sql` files (name order, each with whether
    the listing shows a plain file), its sub-folders and its other files (dotfiles left out)."""

    directory: Path
    sql: list[tuple[Path, bool]] = field(default_factory=list)
    folders: list[str] = field(default_factory=list)
    others: list[str] = field(default_factory=list)


def scan(directory: Path | str) -> Scan:
    """The listing of `directory`; InvalidMigration when it is missing or not a folder."""
    directory = Path(directory)
    if not directory.exists():
        raise InvalidMigration("migrations directory does not exist; check --dir", directory)
    if not directory.is_dir():
        raise InvalidMigration("is not a directory; --dir takes the migrations folder", directory)
    sql, folders, others = [], [], []
    try:
        with os.scandir(directory) as entries:
            for entry in entries:
                name = entry.name
                if name.startswith("."):
                    continue
                if name.endswith(".sql"):
                    sql.append((name, entry.is_file(follow_symlinks=False)))
                elif entry.is_dir():
                    folders.append(name)
                else:
                    others.append(name)
    except OSError as exc:
        raise InvalidMigration(f"cannot list directory: {exc.strerror or exc}", directory) from exc
    sql.sort()
    return Scan(
        directory, [(directory / name, plain) for name, plain in sql], sorted(folders), others
    )


@contextmanager
def opened(directory: Path) -> Iterator[int | None]:
    """A descriptor of `directory` for reading its files by name (source.read_text), closed
    after the block; None where it cannot be opened, and each file is then read by its path
    (and its own error names it)."""
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        yield None
        return
    try:
        yield fd
    finally:
        os.close(fd)


def sql_kind(name: str) -> str:
    """The layout a `.sql` name belongs to by its name alone ('' for none)."""
    if FILENAME_RE.match(name):
        return UAP
    if SPLIT_RE.match(name):
        return GOLANG_MIGRATE
    if FLYWAY_RE.match(name):
        return FLYWAY
    if SINGLE_RE.match(name):
        return _MARKED
    return ""


_forced: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "uap_forced_layout", default=None
)


@contextmanager
def forced(layout: str | None) -> Iterator[None]:
    """Within the block, every folder is read as `layout` (`uap_migrate --layout`) instead of
    the layout its names show; None leaves detection on. InvalidMigration (exit 2) for a
    name not in LAYOUTS."""
    if layout is not None and layout not in LAYOUTS:
        raise InvalidMigration(
            f"--layout {layout!r} is not a layout the runner knows; give one of "
            + ", ".join(LAYOUTS)
        )
    token = _forced.set(layout)
    try:
        yield
    finally:
        _forced.reset(token)


def detect(found: Scan, sniff: Callable[[Path], str]) -> str:
    """The layout of a scanned folder; InvalidMigration (exit 2) when it mixes two, or holds
    things none of which the runner can read.

    `sniff(path)` says DBMATE, GOOSE or '' for a `<version>_<name>.sql` file. A layout
    `forced` for the run wins over what the names show.
    """
    chosen = _forced.get()
    if chosen:
        return chosen
    seen: dict[str, str] = {}  # layout: the first name that shows it
    for path, _ in found.sql:
        kind = sql_kind(path.name)
        if kind == _MARKED:
            kind = sniff(path)
        if kind and kind not in seen:
            seen[kind] = path.name
    for name in found.folders:
        if DIESEL_RE.match(name) and DIESEL not in seen and _holds_up_sql(found, name):
            seen[DIESEL] = f"{name}/up.sql"
    for name in found.others:
        kind = _other_kind(name)
        if kind and kind not in seen:
            seen[kind] = name
    if len(seen) > 1:
        raise _mixed(found.directory, seen)
    if seen:
        [layout] = seen
        return layout
    if not found.sql and found.folders and _flyway_below(found.directory):
        return FLYWAY  # Flyway reads its location's sub-folders too
    if not found.sql:
        leftovers = [f"{name}/" for name in found.folders] + [
            name for name in sorted(found.others) if not _KEPT_BESIDE_RE.search(name)
        ]
        if leftovers:
            raise _unreadable(found.directory, leftovers)
    return UAP  # its misnamed `.sql` files are refused one by one, by name


def walk(directory: Path) -> Iterator[tuple[Path, list[str]]]:
    """Each sub-folder below `directory` (not itself), with its file names, dot-names left
    out; in name order, links to folders not followed."""
    for root, folders, names in os.walk(directory):
        folders[:] = sorted(name for name in folders if not name.startswith("."))
        if Path(root) != Path(directory):
            yield Path(root), sorted(name for name in names if not name.startswith("."))


def _flyway_below(directory: Path) -> bool:
    return any(FLYWAY_RE.match(name) for _, names in walk(directory) for name in names)


def _holds_up_sql(found: Scan, name: str) -> bool:
    return (found.directory / name / "up.sql").exists()


def _other_kind(name: str) -> str:
    if name == "sqitch.plan":
        return SQITCH
    if name.endswith(".sql.conf"):
        return FLYWAY
    if GOOSE_GO_RE.match(name):
        return GOOSE
    return ""


def _mixed(directory: Path, seen: dict[str, str]) -> InvalidMigration:
    shown = " and ".join(f"{layout} ({example})" for layout, example in seen.items())
    return InvalidMigration(
        f"mixes the layouts of different runners: {shown}; keep one runner's files per folder",
        directory,
        rule="layout",
    )


def _unreadable(directory: Path, leftovers: list[str]) -> InvalidMigration:
    shown = ", ".join(leftovers[:5]) + (f" and {len(leftovers) - 5} more" if leftovers[5:] else "")
    layouts = "; ".join(f"{layout}: {pattern}" for layout, pattern in EXPECTED.items())
    return InvalidMigration(
        f"holds no migration the runner can read (found {shown}); it reads {layouts}",
        directory,
        rule="layout",
    )
