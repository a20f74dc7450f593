"""Frozen dataclass instances built in one step, for the records read by the thousand on every
run (headers, migration files, ledger rows, plan entries). Pure."""

from __future__ import annotations


def whole(cls, state: dict):
    """An instance of the frozen dataclass `cls` whose fields are `state`, which it takes as
    its own dict: for a builder that names every field itself, in the loops that make one
    record per file or row (the dataclass's __init__ sets the fields one call at a time,
    which costs as much as the rest of a small file's header). Each builder's test holds its
    records to what the constructor builds, field by field and in the same layout."""
    instance = object.__new__(cls)
    object.__setattr__(instance, "__dict__", state)
    return instance
