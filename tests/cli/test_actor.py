"""Who deployed: `--actor`, else UAP_ACTOR, else the CI's variables, else the OS user."""

from __future__ import annotations

import getpass

import pytest
from django.test import override_settings

from schema_audit import api
from schema_audit.ledger import provenance
from tests.conftest import numbered


@pytest.fixture(autouse=True)
def _no_ci(monkeypatch):
    """The suite may itself run in CI: start from an environment without CI variables."""
    for variable, _ in provenance.CI_ACTORS:
        monkeypatch.delenv(variable, raising=False)


def actors(database) -> list[tuple]:
    return database.query("SELECT action, actor, applied_by FROM schema_migration_events")


def test_actor_flag_is_on_every_event_and_applied_by_stays_the_role(uap, database, migrations_dir):
    """`--actor` names the deployer on each event; applied_by is still the database role."""
    folder = migrations_dir(numbered(2))
    result = uap("--actor", "alice@example.com", directory=folder)
    assert result.code == 0, result.err
    role = database.scalar("SELECT current_user")
    assert actors(database) == [("apply", "alice@example.com", role)] * 2
    assert uap("--verify", directory=folder).code == 0  # the actor is part of the chain


def test_setting_then_ci_variables_then_os_user(uap, database, migrations_dir, monkeypatch):
    """UAP_ACTOR wins over the CI's variables, which win over the OS user."""
    files = numbered(4)
    folder = migrations_dir({})
    for name in list(files)[:1]:
        (folder / name).write_text(files[name])
    assert uap(directory=folder).code == 0
    monkeypatch.setenv("GITHUB_ACTOR", "someone")
    (folder / list(files)[1]).write_text(files[list(files)[1]])
    assert uap(directory=folder).code == 0
    with override_settings(UAP_ACTOR="release-bot"):
        (folder / list(files)[2]).write_text(files[list(files)[2]])
        assert uap(directory=folder).code == 0
    monkeypatch.delenv("GITHUB_ACTOR")
    monkeypatch.setenv("GITLAB_USER_LOGIN", "gitlab-user")
    (folder / list(files)[3]).write_text(files[list(files)[3]])
    assert uap(directory=folder).code == 0
    assert [row[1] for row in actors(database)] == [
        getpass.getuser(),
        "someone (GitHub Actions)",
        "release-bot",
        "gitlab-user (GitLab CI)",
    ]


@pytest.mark.parametrize(
    "variable, value, expected",
    [
        ("BUILD_USER_ID", "jenkins-admin", "jenkins-admin (Jenkins)"),
        ("BUILD_TAG", "jenkins-deploy-42", "jenkins-deploy-42 (Jenkins)"),
        ("BUILDKITE_BUILD_CREATOR_EMAIL", "bk@example.com", "bk@example.com (Buildkite)"),
        ("CIRCLE_USERNAME", "circle-user", "circle-user (CircleCI)"),
        ("GITHUB_ACTOR", "bad\x1bname", getpass.getuser()),  # unusable: the next source
    ],
)
def test_each_ci_names_its_user(monkeypatch, variable, value, expected):
    """Each CI's own variable gives the actor, marked with the CI's name."""
    monkeypatch.setenv(variable, value)
    assert provenance.actor() == expected


@pytest.mark.parametrize(
    "value, why",
    [("", "empty"), ("   ", "empty"), ("a\nb", "control character"), ("x" * 201, "longer")],
)
def test_bad_actor_is_refused_before_anything_runs(uap, database, migrations_dir, value, why):
    """An empty, over-long or control-character --actor: exit 2, nothing applied."""
    result = uap("--actor", value, directory=migrations_dir(numbered(1)))
    assert result.code == 2
    assert "--actor" in result.err and why in result.err
    assert "schema_migration_events" not in database.tables()


def test_bad_actor_setting_is_a_configuration_error(uap, migrations_dir):
    """UAP_ACTOR with a control character does not convert: exit 2 naming the setting."""
    with override_settings(UAP_ACTOR="ops\tteam"):
        result = uap(directory=migrations_dir(numbered(1)))
    assert result.code == 2 and "UAP_ACTOR" in result.err


def test_api_runs_record_the_actor_too(database, migrations_dir):
    """The API (no command) records the resolved actor on its events."""
    with provenance.deploy_actor("api-caller"):
        api.run_pending(migrations_dir(numbered(1)), database.alias)
    assert actors(database)[0][1] == "api-caller"
