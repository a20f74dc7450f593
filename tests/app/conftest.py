"""The wheel built from the checkout, and a clean way to run commands beside it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT


def run(
    args: list, cwd: Path, timeout: float = 600, env: dict | None = None
) -> subprocess.CompletedProcess:
    """Run a command with a clean environment (none of this project's settings leak in)."""
    environ = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/root")}
    environ.update(env or {})
    return subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        env=environ,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture(scope="session")
def wheel(tmp_path_factory) -> Path:
    """`python -m build --wheel` of a copy of what the package is built from."""
    source = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(
        ROOT / "schema_audit",
        source / "schema_audit",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
    )
    dist = tmp_path_factory.mktemp("dist")
    done = run([sys.executable, "-m", "build", "--wheel", "--outdir", dist, source], source)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (found,) = dist.glob("django_schema_audit_trail-*.whl")
    return found
