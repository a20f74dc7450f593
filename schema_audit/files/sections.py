"""The up and down sections of a dbmate or goose file, split as each tool splits it. Pure.

Both tools decide by whole lines (a marker is a line of its own, starting with `--`), so
these rules are theirs, read line by line; what lies between markers is kept byte for byte.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from schema_audit.exceptions import InvalidMigration
from schema_audit.files.source import line_of

# dbmate (pkg/dbmate/migration.go): `-- migrate:up`, options after it (`transaction:false`).
_DBMATE_UP_RE = re.compile(r"^--\s*migrate:up(?=\s|$)([^\n]*)$", re.MULTILINE)
_DBMATE_DOWN_RE = re.compile(r"^--\s*migrate:down(?=\s|$)([^\n]*)$", re.MULTILINE)
_GOOSE_UP_RE = re.compile(r"^--[ \t]*\+goose Up[ \t]*$", re.MULTILINE)
# The lint rule of a file whose markers its own runner would refuse.
RULE = "layout-format"
_MORPH_RE = re.compile(r"\A[ \t]*--[ \t]*morph:nontransactional[ \t]*$", re.MULTILINE)


@dataclass(frozen=True)
class Part:
    """What runs going up (from `line` of its file), what undoes it, and whether it runs in a
    transaction."""

    up: str
    line: int
    down: str
    transactional: bool


def marker_of(text: str) -> str:
    """'goose' or 'dbmate' by the up marker `text` holds; '' for neither."""
    if _GOOSE_UP_RE.search(text):
        return "goose"
    if _DBMATE_UP_RE.search(text):
        return "dbmate"
    return ""


def morph_nontransactional(text: str) -> bool:
    """True when the first line is morph's `-- morph:nontransactional`."""
    return bool(_MORPH_RE.match(text))


def dbmate(text: str, path: Path) -> Part:
    """The sections of a dbmate file; InvalidMigration naming the line dbmate would refuse,
    or where a second marker would silently make one section of two."""
    ups = list(_DBMATE_UP_RE.finditer(text))
    downs = list(_DBMATE_DOWN_RE.finditer(text))
    if not ups:
        raise InvalidMigration("has no `-- migrate:up` line; dbmate needs one", path, rule=RULE)
    for marker, found in (("up", ups), ("down", downs)):
        if len(found) > 1:
            first = line_of(text, found[0].start())
            raise InvalidMigration(
                f"a second `-- migrate:{marker}` (the first is on line {first}); dbmate reads "
                f"only the first, so both sections would run as one: keep one",
                path,
                line_of(text, found[1].start()),
                rule=RULE,
            )
    up = ups[0]
    down = downs[0] if downs else None
    if down and down.start() < up.start():
        raise InvalidMigration(
            "`-- migrate:down` comes before `-- migrate:up`; dbmate needs up first",
            path,
            line_of(text, down.start()),
            rule=RULE,
        )
    for number, line in enumerate(text[: up.start()].split("\n"), start=1):
        if line.strip() and not line.lstrip().startswith("--"):
            raise InvalidMigration(
                "SQL before `-- migrate:up`; dbmate refuses statements outside its sections",
                path,
                number,
                rule=RULE,
            )
    end = down.start() if down else len(text)
    options = up.group(1).split()
    return Part(
        up=text[up.start() : end],
        line=line_of(text, up.start()),
        down=text[end:],
        transactional="transaction:false" not in options,
    )


def goose(text: str, path: Path) -> Part:
    """The sections of a goose file, by goose's own state machine (internal/sqlparser);
    InvalidMigration naming the line goose would refuse."""
    state, up_at, down_at, begin_line, transactional = "start", None, None, 0, True
    offset = 0
    for number, line in enumerate(text.split("\n"), start=1):
        here, offset = offset, offset + len(line) + 1
        command = line[2:].strip() if line.startswith("--") else None
        if command == "+goose Up":
            if state != "start":
                raise _goose(path, number, "a second `-- +goose Up`; keep one")
            state, up_at = "up", here
        elif command == "+goose Down":
            if state != "up":
                raise _goose(path, number, _misplaced_down(state, begin_line))
            state, down_at = "down", here
        elif command == "+goose StatementBegin":
            if state not in ("up", "down"):
                raise _goose(path, number, _misplaced_begin(state, begin_line))
            state, begin_line = f"{state} block", number
        elif command == "+goose StatementEnd":
            if not state.endswith(" block"):
                raise _goose(path, number, "`-- +goose StatementEnd` without a StatementBegin")
            state = state.removesuffix(" block")
        elif command == "+goose NO TRANSACTION":
            transactional = False
        elif state == "start" and line.strip() and not line.lstrip().startswith("--"):
            raise _goose(path, number, "SQL before `-- +goose Up`; goose refuses it")
    if state == "start":
        raise InvalidMigration("has no `-- +goose Up` line; goose needs one", path, rule=RULE)
    if state.endswith(" block"):
        raise _goose(
            path, begin_line, "`-- +goose StatementBegin` is never ended by a StatementEnd"
        )
    end = down_at if down_at is not None else len(text)
    return Part(text[up_at:end], line_of(text, up_at), text[end:], transactional)


def _misplaced_down(state: str, begin_line: int) -> str:
    if state == "start":
        return "`-- +goose Down` before `-- +goose Up`; goose needs up first"
    if state == "down":
        return "a second `-- +goose Down`; keep one"
    return f"`-- +goose Down` inside the StatementBegin block of line {begin_line}; end it first"


def _misplaced_begin(state: str, begin_line: int) -> str:
    if state == "start":
        return "`-- +goose StatementBegin` before `-- +goose Up`"
    return f"`-- +goose StatementBegin` inside the block of line {begin_line}; end it first"


def _goose(path: Path, line: int, message: str) -> InvalidMigration:
    return InvalidMigration(message, path, line, rule=RULE)
