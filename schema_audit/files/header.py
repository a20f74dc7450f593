"""The leading `--` comment block of a migration file: its fields and directives. No database."""

from __future__ import annotations

import re
from dataclasses import MISSING, dataclass, field, fields

from schema_audit.records import whole

HEADER_FIELDS = {
    "migration": "migration",
    "version": "version",
    "date": "date",
    "description": "description",
    "status": "status",
    "changes": "changes",
    "impact": "impact",
    "rollback": "rollback",
    "transaction": "transaction",
    "lint-ignore": "lint_ignore",
    "author": "author",
    "depends": "depends",
    "retired": "retired",
}
# What `uap_makemigration` writes as the Rollback; lint reports it (and any TODO) until the SQL
# that undoes the file replaces it.
ROLLBACK_PLACEHOLDER = "TODO: the SQL that undoes this migration"
_FIELD_RE = re.compile(r"^([A-Za-z][A-Za-z0-9_-]*)\s*:\s*(.*)$")


@dataclass(frozen=True)
class Header:
    """The fields of a migration's leading `--` comment block (the guide's template)."""

    migration: str = ""
    version: str = ""
    date: str = ""
    description: str = ""
    status: str = ""
    changes: str = ""
    impact: str = ""
    rollback: str = ""
    transaction: str = ""
    lint_ignore: str = ""
    author: str = ""  # a Django username or an e-mail: who may not approve the file
    # `app_label.migration_name[, ...]`: Django migrations that must be applied first.
    depends: str = ""
    # Why the file never runs (rolled back where it ran): recorded unrun where it is pending.
    retired: str = ""
    lines: dict[str, int] = field(default_factory=dict, compare=False, repr=False)
    # Other `-- Key: value` lines (Source, Ticket, ...), in file order, spelled as written.
    extra: dict[str, str] = field(default_factory=dict)

    def get(self, key: str) -> str:
        """A field by its header name (`Rollback`, `Source`), known or not; '' if absent."""
        known = HEADER_FIELDS.get(key.lower())
        if known:
            return getattr(self, known, "")
        return next((v for k, v in self.extra.items() if k.lower() == key.lower()), "")

    @property
    def transactional(self) -> bool:
        """False when the header says `-- Transaction: none`."""
        return self.transaction.strip().lower() != "none"

    @property
    def rollback_is_placeholder(self) -> bool:
        """True while the Rollback says TODO (or FIXME) instead of SQL."""
        return is_placeholder(self.rollback)

    @property
    def is_retired(self) -> bool:
        """True when the header has a `-- Retired:` line (with or without its reason)."""
        return "retired" in self.lines

    @property
    def dependencies(self) -> tuple[tuple[str, str], ...]:
        """The Django migrations `-- Depends:` names, as `(app_label, migration_name)`."""
        return parse_depends(self.depends)[0]


def is_placeholder(rollback: str) -> bool:
    """True when Rollback text says TODO (or FIXME) instead of SQL (lint's
    rollback-placeholder; the runner refuses to run it)."""
    return bool(_PLACEHOLDER_RE.match(rollback))


def without_retired(text: str, header: Header) -> str:
    """`text` without its header's `-- Retired:` line: what the checksum covers, so retiring a
    file does not change the checksum its ledger rows recorded."""
    line = header.lines.get("retired")
    if not line:
        return text
    lines = text.split("\n")
    return "\n".join(lines[: line - 1] + lines[line:])


def parse_depends(text: str) -> tuple[tuple[tuple[str, str], ...], tuple[str, ...]]:
    """`shop.0011_x, auth.0012_y` as `((app, name), ...)`, and the entries that are not
    `app_label.migration_name` (an app label is a Python identifier; a migration name is
    its module's name)."""
    found, malformed = [], []
    for entry in (part for part in re.split(r"[\s,]+", text) if part):
        match = _DEPENDENCY_RE.match(entry)
        if match:
            if match.groups() not in found:
                found.append(match.groups())
        else:
            malformed.append(entry)
    return tuple(found), tuple(malformed)


_PLACEHOLDER_RE = re.compile(r"\s*(?:TODO|FIXME)\b", re.IGNORECASE)
_DEPENDENCY_RE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\.([A-Za-z0-9_]+)$")


def parse_header(text: str) -> Header:
    """Parse the leading `--` comment block; continuation lines extend the previous field.

    A known key (any case) or a capitalised `-- Word:` starts a field and so ends the one
    before it: a `-- Source: ...` line after a multi-line Rollback is not rollback SQL.
    """
    values: dict[str, list[str]] = {}
    lines: dict[str, int] = {}
    current = None
    # The block holds only blank and `--` lines, so every line with text is a comment.
    block = _LEADING_COMMENTS_RE.match(text).group()
    for number, raw in enumerate(block.split("\n"), start=1):
        stripped = raw.strip()
        if not stripped:
            if values:
                break  # a blank line ends the header
            continue
        body = stripped[2:].lstrip()  # `stripped` ends in text already
        if ":" in body and (match := _FIELD_RE.match(body)):
            name, value = match.groups()
            # Lower-case words stay continuation text (`-- note: ...` inside a Rollback).
            key = HEADER_FIELDS.get(name.lower()) or (name if name[0].isupper() else None)
            if key:
                # A one-value field is never continued: the comment lines after it are prose.
                current = None if key in _SINGLE_LINE else key
                if key in _REPEATABLE and values.get(key):
                    values[key] = [", ".join([*values[key], value])] if value else values[key]
                else:
                    values[key] = [value] if value else []
                    lines[key] = number
                continue
        if not body:
            current = None
        elif current:
            values[current].append(body)
    known, extra = _DEFAULTS.copy(), {}
    for key, parts in values.items():
        (known if key in _KNOWN else extra)[key] = "\n".join(parts)
    known["lines"], known["extra"] = lines, extra
    # Every field is in `known` by now: it is the header's own dict, set in one step (this
    # runs per file per run).
    return whole(Header, known)


# The leading lines that are blank or `--` comments: all a header can be made of.
_LEADING_COMMENTS_RE = re.compile(r"(?:[^\S\n]*(?:--[^\n]*)?(?:\n|\Z))*")


_KNOWN = frozenset(HEADER_FIELDS.values())
# Every field's value when the header does not give it (`lines` and `extra` are set per file).
_DEFAULTS = {f.name: f.default for f in fields(Header) if f.default is not MISSING}
_SINGLE_LINE = frozenset(
    {"migration", "version", "date", "status", "transaction", "lint_ignore", "depends", "retired"}
)
# Each line adds to the field instead of replacing it (`--depends` may be given many times).
_REPEATABLE = frozenset({"depends"})
