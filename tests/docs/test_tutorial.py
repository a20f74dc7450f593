"""The tutorial's commands, extracted from docs/tutorial.md and run as written in a fresh
folder and virtualenv, with the wheel built from this checkout, against a fresh database."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.packaging

TUTORIAL = ROOT / "docs" / "tutorial.md"
# A fenced sh block right after the marker comment runs; every other block is only shown.
RUN_BLOCK = re.compile(r"<!-- tutorial:run -->\n```sh\n(.*?)```", re.S)
# The install line names the published distribution; the test installs the checkout's wheel.
DISTRIBUTION = re.compile(r'"django-schema-audit(?:-trail)?(\[[a-z,]+\])?"')


def tutorial_script() -> str:
    """The tutorial's runnable blocks, in page order, as one bash script."""
    blocks = RUN_BLOCK.findall(TUTORIAL.read_text(encoding="utf-8"))
    assert blocks, f"no <!-- tutorial:run --> sh blocks in {TUTORIAL}"
    return "\n".join(blocks)


def environ_url(database) -> str:
    """DATABASE_URL as django-environ reads it: a socket directory goes in the path."""
    params = database.params
    host = str(params.get("host") or "")
    if not host.startswith("/"):
        return database.url
    user = quote(params.get("user") or "postgres")
    password = f":{quote(str(params['password']))}" if params.get("password") else ""
    port = f":{params['port']}" if params.get("port") else ""
    return f"postgresql://{user}{password}@{port}/{quote(host, safe='')}/{database.name}"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """`python -m build --wheel` of a copy of what the package is built from."""
    source = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, source / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT / "schema_audit", source / "schema_audit", ignore=ignore)
    dist = tmp_path_factory.mktemp("dist")
    command = [sys.executable, "-m", "build", "--wheel", "--outdir", str(dist), str(source)]
    done = subprocess.run(command, cwd=source, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (found,) = dist.glob("*.whl")
    return found


def test_tutorial_blocks_are_found_in_page_order():
    """The extraction sees the install, the project, the migration and the auditor's login."""
    script = tutorial_script()
    steps = ["python3 -m venv", "startproject", "001_v1.0_", "uap_migrate\n", "alice"]
    positions = [script.index(step) for step in steps]
    assert positions == sorted(positions)
    assert len(DISTRIBUTION.findall(script)) == 1


def test_tutorial_runs_as_written(wheel, database, tmp_path):
    """Every command of the tutorial exits 0 and the auditor sees the applied version."""
    script, count = DISTRIBUTION.subn(lambda m: f'"{wheel}{m.group(1) or ""}"', tutorial_script())
    assert count == 1
    folder = tmp_path / "tutorial"
    folder.mkdir()
    environ = {
        # The interpreter running the suite is the tutorial's `python3`.
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "HOME": os.environ.get("HOME", "/root"),
        "DATABASE_URL": environ_url(database),
    }
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=folder,
        env=environ,
        capture_output=True,
        text=True,
        timeout=900,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    assert "001 v1.0_create_customers" in done.stdout, output[-4000:]
    assert done.stdout.rstrip().endswith("alice sees version 001 in the audit admin"), output
    assert database.scalar("SELECT status FROM schema_migrations WHERE version = '001'") == (
        "completed"
    )
    assert "customers" in database.tables()
