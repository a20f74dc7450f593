"""sqitch's plan file (`sqitch.plan`) read as sqitch reads it: pragmas, change lines and tag
lines in order, with every line sqitch would refuse named by its number. Pure.

A change line is `name [requires] 2024-01-01T00:00:00Z Planner <email> # note`, a tag line
`@name` and the same; a change planned again after a tag is reworked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from schema_audit.exceptions import InvalidMigration
from schema_audit.files.sections import RULE

# sqitch's punctuation: a name neither starts nor ends with one (`_` is not one).
_PUNCT = "-!\"#$%&'()*+,./:;<=>?@[\\]^`{|}~"
_NAME = r"[^\s:@#\\\[\]]+"
_STAMP = r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z"
_PLANNER = r"[^<]*?\s*<[^>]*>"
_NOTE = r"(?:\s+#.*)?"
_CHANGE_RE = re.compile(
    rf"(?P<op>[+-]?)(?P<name>{_NAME})\s*(?:\[(?P<deps>[^\]]*)\]\s*)?{_STAMP}\s+{_PLANNER}{_NOTE}"
)
_TAG_RE = re.compile(rf"@(?P<name>{_NAME})\s+{_STAMP}\s+{_PLANNER}{_NOTE}")
_PRAGMA_RE = re.compile(r"%\s*(?P<name>[A-Za-z][\w-]*)\s*(?:=\s*(?P<value>.*))?")
_DEPENDENCY_RE = re.compile(
    rf"(?P<conflict>!?)(?:(?P<project>{_NAME}):)?(?P<change>{_NAME})?(?:@(?P<tag>{_NAME}))?"
)


@dataclass
class Change:
    """One change line of the plan."""

    name: str
    line: int
    index: int  # among the plan's changes
    dependencies: list[str]
    tags_before: int  # how many tags the plan declares before it
    # The tags between it and the next occurrence of its name (`sqitch rework`).
    rework_tags: list[str] = field(default_factory=list)


@dataclass
class Plan:
    """A parsed `sqitch.plan`: its project, changes in order and tags with their lines."""

    path: Path
    project: str = ""
    changes: list[Change] = field(default_factory=list)
    tags: dict[str, int] = field(default_factory=dict)


def parse_plan(text: str, path: Path) -> tuple[Plan, list[InvalidMigration]]:
    """The plan and every line of it sqitch would refuse (each an InvalidMigration naming
    the plan's line)."""
    plan, problems = Plan(path), []
    tags: list[str] = []
    latest: dict[str, Change] = {}
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("%"):
            match = _PRAGMA_RE.fullmatch(line)
            if match is None:
                problems.append(plan_problem(plan, number, f"is not a pragma: `{line}`"))
            elif match["name"] == "project":
                plan.project = (match["value"] or "").strip()
            continue
        tag = _TAG_RE.fullmatch(line) if line.startswith("@") else None
        change = None if tag else _CHANGE_RE.fullmatch(line)
        name = (tag or change)["name"] if tag or change else ""
        why = "" if tag or change else _MALFORMED.format(line=line)
        why = why or _name_problem(name)
        if not why and tag:
            if not plan.changes:
                why = f"declares tag @{name} before any change; a tag labels the change before it"
            elif name in plan.tags:
                why = f"declares tag @{name} again (first on line {plan.tags[name]})"
        if not why and change:
            if change["op"] == "-":
                why = f"reverts {name} (`-{name}`); the runner applies changes, write none"
            elif name in latest and latest[name].tags_before == len(tags):
                why = (
                    f"plans change {name} again with no tag since line {latest[name].line}; "
                    "sqitch reworks a change only after a tag (`sqitch tag`, then `sqitch "
                    "rework`): remove one of the two lines"
                )
        if why:
            problems.append(plan_problem(plan, number, why))
            continue
        if tag:
            plan.tags[name] = number
            tags.append(name)
            continue
        dependencies = (change["deps"] or "").split()
        planned = Change(name, number, len(plan.changes), dependencies, len(tags))
        if name in latest:
            latest[name].rework_tags = tags[latest[name].tags_before :]
        latest[name] = planned
        plan.changes.append(planned)
    if not plan.project:
        problems.append(
            plan_problem(plan, 1, "has no `%project=<name>` line; sqitch needs one in a plan")
        )
    first: dict[str, int] = {}  # each change name: the line of its first occurrence
    for change in plan.changes:
        first.setdefault(change.name, change.line)
    for change in plan.changes:
        problems += [plan_problem(plan, change.line, why) for why in _unmet(plan, change, first)]
    return plan, problems


_MALFORMED = (
    "is not a line sqitch reads: `{line}` (a change is `name [requires] "
    "2024-01-01T00:00:00Z Planner <email> # note`, a tag `@name` and the same)"
)


def _name_problem(name: str) -> str:
    """Why sqitch refuses a change or tag name, or '' when it takes it."""
    if name[0] in _PUNCT or name[-1] in _PUNCT or re.search(r"[~^/=%][0-9]+\Z", name):
        return (
            f"name {name!r} starts or ends with punctuation (or `~`, `^`, `/`, `=` or `%` and "
            "digits, which sqitch reads as a reference to another change)"
        )
    if any(part in ("", ".", "..") for part in name.split("/")):
        return f"name {name!r} has an empty, `.` or `..` folder; it names a script path"
    return ""


def _unmet(plan: Plan, change: Change, first: dict[str, int]) -> list[str]:
    """Each dependency of `change` the plan cannot satisfy before it, as the reason."""
    found = []
    for dependency in change.dependencies:
        match = _DEPENDENCY_RE.fullmatch(dependency)
        if match is None or not (match["change"] or match["tag"]):
            found.append(f"dependency {dependency!r} is not `[!][project:]change[@tag]`")
            continue
        if match["project"] and match["project"] != plan.project:
            found.append(
                f"{change.name} depends on {dependency} of another sqitch project; the runner "
                "reads one project's plan: deploy that project first, and drop the dependency "
                "from this line"
            )
            continue
        name, tag = match["change"], match["tag"]
        if match["conflict"]:
            if name and first.get(name, change.line) < change.line:
                found.append(
                    f"{change.name} conflicts with {name}, which the plan deploys before it "
                    f"(line {first[name]}); sqitch would refuse to deploy it"
                )
            continue
        for what, key, where in (("change", name, first), ("tag", tag, plan.tags)):
            line = where.get(key) if key else None
            if key and not (line and line < change.line):
                place = f"comes later (line {line})" if line else "is not in the plan"
                found.append(
                    f"{change.name} requires {what} {dependency}, which {place}; a change "
                    "must come after what it requires"
                )
    return found


def plan_problem(plan: Plan, line: int, why: str) -> InvalidMigration:
    return InvalidMigration(why, plan.path, line, rule=RULE)
