"""The suite on every supported Django: `nox` runs them all, `nox -s "tests(django='4.2')"` one.

`make test` is the quick path on the Django pinned in requirements.txt; `.ci/run` runs the
other supported versions here after it.
"""

import nox

nox.options.reuse_existing_virtualenvs = True
nox.options.default_venv_backend = "venv"

# Each supported feature release (LTS 4.2 and 5.2, and 5.1) at its newest patch.
DJANGO = {"4.2": "Django>=4.2,<5.0", "5.1": "Django>=5.1,<5.2", "5.2": "Django>=5.2,<6.0"}


@nox.session
@nox.parametrize("django", list(DJANGO))
def tests(session: nox.Session, django: str) -> None:
    """The whole suite but the packaging test (it builds its own environments)."""
    session.install("-r", "requirements-dev.txt")
    # After the pinned requirements, so that this Django replaces the pinned one.
    session.install(DJANGO[django])
    session.run("python", "-c", "import django; print('Django', django.get_version())")
    args = session.posargs or ["-n", "2", "-m", "not packaging"]
    session.run("python", "-m", "pytest", "-p", "no:cacheprovider", *args)
