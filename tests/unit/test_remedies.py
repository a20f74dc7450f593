"""Refusals and the planner's findings: neutral words, a remedy, and the command's wording."""

from __future__ import annotations

import json
import pickle

import pytest

from schema_audit.exceptions import RefusedRequest, SchemaAuditError
from schema_audit.remedies import Advice, Fix, Remedy, for_command

ACCEPT = Remedy(Fix.ACCEPT_CHECKSUM, "; restore it or run {fix}", "005")


@pytest.mark.parametrize(
    "remedy, command",
    [
        pytest.param(ACCEPT, "--accept-checksum 005", id="accept-checksum"),
        pytest.param(
            Remedy(Fix.REPAIR, "", "002", "completed"),
            "--repair 002 --mark completed",
            id="repair",
        ),
        pytest.param(Remedy(Fix.OUT_OF_ORDER, ""), "--out-of-order", id="out-of-order"),
        pytest.param(Remedy(Fix.FORCE, ""), "--force", id="force"),
        pytest.param(Remedy(Fix.PATCH, ""), "--patch", id="patch"),
    ],
)
def test_each_fix_has_its_flags(remedy, command):
    """Every operation a remedy names is spelt as the command's flags."""
    assert remedy.command() == command


def test_an_advice_reads_as_the_command_prints_it():
    """As text and JSON: the message, then the remedy in flags; `message` is the neutral part."""
    advice = Advice("file changed since it was applied", ACCEPT)
    text = "file changed since it was applied; restore it or run --accept-checksum 005"
    assert advice == text and json.dumps([advice]) == json.dumps([text])
    assert (advice.message, advice.remedy) == ("file changed since it was applied", ACCEPT)


def test_a_prefixed_advice_keeps_its_remedy():
    """Naming the version in front changes the message, not the remedy."""
    advice = Advice("file changed", ACCEPT).prefixed("005 v1.0_x: ")
    assert advice.message == "005 v1.0_x: file changed" and advice.remedy is ACCEPT
    assert advice == "005 v1.0_x: file changed; restore it or run --accept-checksum 005"


def test_an_advice_survives_a_copy_through_pickle():
    """A cached plan may be pickled: the parts come back."""
    copied = pickle.loads(pickle.dumps(Advice("file changed", ACCEPT)))
    assert (str(copied), copied.message, copied.remedy) == (
        "file changed; restore it or run --accept-checksum 005",
        "file changed",
        ACCEPT,
    )


def test_a_refusal_is_neutral_and_the_command_adds_its_remedy():
    """str() of the error has no flag; for_command adds the remedy as the command words it."""
    error = RefusedRequest("already completed", remedy=Remedy(Fix.FORCE, "; pass {fix} to redo"))
    assert str(error) == "already completed" and error.exit_code == 2
    assert for_command(error) == "already completed; pass --force to redo"


def test_an_error_without_a_remedy_reads_the_same_everywhere():
    """No remedy: the command prints the message as it is."""
    error = SchemaAuditError("nothing to do")
    assert error.remedy is None and for_command(error) == "nothing to do"
