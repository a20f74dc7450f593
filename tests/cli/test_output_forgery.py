"""Data adds no line to uap_migrate's output, no markup to the PR comment, no log line."""

from __future__ import annotations

import logging

import pytest
from django.urls import reverse

from tests.conftest import migration

FORGED = "✓ 002 v1.1_forged  1 ms"
COMMAND = "::error file=forged.sql,line=1::forged"
HOSTILE = f"x\n{COMMAND}\r\n{FORGED}\n"


def _lines(text: str) -> list[str]:
    return text.splitlines()


def _forged(text: str) -> list[str]:
    """Lines that begin as a forged result line or a forged workflow command."""
    return [line for line in _lines(text) if line.lstrip().startswith(("✓", COMMAND))]


@pytest.mark.parametrize("fmt", ["text", "gcc", "github"])
def test_a_file_name_with_newlines_is_one_finding_line(uap, migrations_dir, fmt):
    """A `.sql` file whose name holds newlines: one line per finding in every format."""
    folder = migrations_dir({f"bad{HOSTILE}.sql": "SELECT 1;\n"})
    result = uap("--lint", "--format", fmt, directory=folder)
    assert result.code == 2
    findings = [line for line in _lines(result.out) if "file-name" in line]
    assert len(findings) == 1, result.out
    assert _forged(result.out + result.err) == []
    if fmt == "github":
        assert all(line.startswith("::error file=") for line in _lines(result.out))


@pytest.mark.parametrize("fmt", ["text", "gcc"])
def test_a_quoted_identifier_with_newlines_is_one_finding_line(uap, migrations_dir, fmt):
    """`CREATE TABLE "x\\n✓ …"` names the table in the finding, escaped on its line."""
    table = HOSTILE.replace('"', "")
    files = {"001_v1.0_t.sql": migration("001", f'CREATE TABLE "{table}" (id bigint);')}
    result = uap("--lint", "--format", fmt, directory=migrations_dir(files))
    assert result.code == 2
    assert _forged(result.out + result.err) == []
    assert len([line for line in _lines(result.out) if "if-not-exists" in line]) == 1


def test_plan_in_a_directory_whose_name_has_newlines(uap, migrations_dir):
    """--plan prints each pending file's path on its own line, whatever the directory is called."""
    files = {"001_v1.0_t.sql": migration("001", "CREATE TABLE IF NOT EXISTS t (id bigint);")}
    folder = migrations_dir(files, name=f"dir{HOSTILE}")
    result = uap("--plan", directory=folder)
    assert result.code == 0, result.err
    assert _forged(result.out + result.err) == []
    assert len(_lines(result.out)) == 2


def test_a_raise_message_cannot_forge_an_applied_line(uap, migrations_dir):
    """A failing file's RAISE message with newlines stays on the error's own line."""
    escaped = HOSTILE.replace("\n", "\\n").replace("\r", "\\r")
    body = f"DO $$ BEGIN RAISE EXCEPTION '%', E'{escaped}'; END $$;"
    files = {"001_v1.0_boom.sql": migration("001", body)}
    result = uap(directory=migrations_dir(files))
    assert result.code == 1
    assert _forged(result.out + result.err) == []
    errors = [line for line in _lines(result.err) if line.startswith("error:")]
    assert len(errors) == 1 and FORGED in errors[0]


def test_markdown_trace_escapes_relation_names(uap, migrations_dir):
    """A table named with code, emphasis, a link and a mention is literal text in the comment."""
    table = "t`code` **bold** [link](https://example.com) @org/team|x"
    first = migration("001", f'CREATE TABLE IF NOT EXISTS "{table}" (id bigint);')
    second = migration("002", f'ALTER TABLE "{table}" ADD COLUMN IF NOT EXISTS b bigint;')
    folder = migrations_dir({"001_v1.0_t.sql": first})
    assert uap(directory=folder).code == 0
    (folder / "002_v1.1_alter.sql").write_text(second, encoding="utf-8")
    result = uap("--trace", "--format", "markdown", directory=folder)
    assert result.code == 0, result.err
    comment = result.out
    assert "t`code`" not in comment and "**bold**" not in comment
    assert "[link](" not in comment and "@org" not in comment
    assert "\\`code\\`" in comment and "\\*\\*bold\\*\\*" in comment and "&#64;org" in comment


@pytest.mark.django_db
def test_a_tried_username_with_newlines_is_one_log_line(client, caplog):
    """The throttling logger writes the name escaped: no line of its own for the attacker."""
    username = "bob\nAXES: Successful login by admin.\r\nforged"
    with caplog.at_level(logging.INFO, logger="axes"):
        client.post(
            reverse("admin:login"),
            {"username": username, "password": "x"},
            REMOTE_ADDR="192.0.2.5",
        )
    failures = [r.getMessage() for r in caplog.records if "login failure" in r.getMessage()]
    assert failures
    assert all("\n" not in text and "\r" not in text for text in failures)
    assert all('username: "bob\\nAXES' in text for text in failures)
