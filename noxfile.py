"""The suite on every supported Django: `nox` runs them all, `nox -s "tests(django='6.1')"` one.

`make test` is the quick path on the Django pinned in requirements.txt (5.2); `.ci/run` runs
the other supported versions here after it.
"""

import glob

import nox

nox.options.reuse_existing_virtualenvs = True
nox.options.default_venv_backend = "venv"


def pyenv(minor: str) -> str:
    """The machine's pyenv interpreter of `minor` (newest patch), else the one on PATH."""
    found = sorted(glob.glob(f"/root/.pyenv/versions/{minor}.*/bin/python{minor}"))
    return found[-1] if found else f"python{minor}"


# Each supported feature release at its newest patch: LTS 5.2 on Python 3.11 (the oldest the
# app supports), 6.0 on 3.12 and 6.1 on 3.13 (Django 6 needs Python 3.12 or newer).
DJANGO = {
    "5.2": ("Django>=5.2,<6.0", "3.11"),
    "6.0": ("Django>=6.0,<6.1", "3.12"),
    "6.1": ("Django>=6.1,<6.2", "3.13"),
}


def _suite(requirement: str):
    def tests(session: nox.Session) -> None:
        """The whole suite but the packaging test (it builds its own environments)."""
        session.install("-r", "requirements-dev.txt")
        # After the pinned requirements, so that this Django replaces the pinned one.
        session.install(requirement)
        session.run("python", "-c", "import django, sys; print('Django', django.get_version())")
        args = session.posargs or ["-n", "2", "-m", "not packaging"]
        session.run("python", "-m", "pytest", "-p", "no:cacheprovider", *args)

    return tests


for _django, (_requirement, _python) in DJANGO.items():
    nox.session(python=pyenv(_python), name=f"tests(django='{_django}')")(_suite(_requirement))
