"""The leading `--` comment block of a migration file: its fields and directives. No database."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

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
}
_FIELD_RE = re.compile(r"^([A-Za-z][A-Za-z-]*)\s*:\s*(.*)$")


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
    lines: dict[str, int] = field(default_factory=dict, compare=False, repr=False)

    @property
    def transactional(self) -> bool:
        """False when the header says `-- Transaction: none`."""
        return self.transaction.strip().lower() != "none"


def parse_header(text: str) -> Header:
    """Parse the leading `--` comment block; continuation lines extend the previous field."""
    values: dict[str, list[str]] = {}
    lines: dict[str, int] = {}
    current = None
    for number, raw in enumerate(text.split("\n"), start=1):
        stripped = raw.strip()
        if not stripped and not values:
            continue
        if not stripped.startswith("--"):
            break
        body = stripped[2:].strip()
        match = _FIELD_RE.match(body)
        key = HEADER_FIELDS.get(match.group(1).lower()) if match else None
        if key:
            current = key
            values[key] = [match.group(2).strip()] if match.group(2).strip() else []
            lines[key] = number
        elif not body:
            current = None
        elif current:
            values[current].append(body)
    joined = {key: "\n".join(parts) for key, parts in values.items()}
    return Header(**joined, lines=lines)
