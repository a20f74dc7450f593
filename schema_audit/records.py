"""Frozen dataclass instances built in one step, for the records read by the thousand on every
run (headers, migration files, ledger rows). Pure."""

from __future__ import annotations

from dataclasses import MISSING, fields


def filled(cls, **values):
    """An instance of the frozen dataclass `cls` from `values` and the defaults of the fields
    not given, set in one dict update: its __init__ sets them one call at a time, which
    counts for the thousands of files every run reads. TypeError when a field is left
    without a value (one with a default_factory must be given) or a name is not a field."""
    known = _TEMPLATES.get(cls)
    if known is None:
        every = fields(cls)
        # Every field in declaration order, as __init__ would have set them.
        template = {f.name: f.default for f in every}
        required = frozenset(f.name for f in every if f.default is MISSING)
        known = _TEMPLATES[cls] = template, required
    template, required = known
    if not (required <= values.keys() <= template.keys()):
        raise TypeError(f"{cls.__name__}: give each field without a default, and no other")
    state = template.copy()
    state.update(values)
    instance = object.__new__(cls)
    instance.__dict__.update(state)
    return instance


_TEMPLATES: dict[type, tuple[dict, frozenset]] = {}


def whole(cls, state: dict):
    """An instance of the frozen dataclass `cls` whose fields are `state`, which it takes as
    its own dict: for a builder that names every field itself, in the loops that make one
    record per file or row (`filled` checks the names and copies the defaults first, which
    costs as much as the rest of a small file's header). The caller's tests hold it to
    `filled`'s result."""
    instance = object.__new__(cls)
    object.__setattr__(instance, "__dict__", state)
    return instance
