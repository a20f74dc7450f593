"""Test settings: the project's, with a throwaway key and a test-only embedded server."""

import os
from pathlib import Path

os.environ.setdefault("SECRET_KEY", "insecure-key-for-tests-only")
os.environ.setdefault(
    "UAP_PGDATA", str(Path(__file__).resolve().parent.parent / ".uap" / "test-pgdata")
)

from uap_project.settings import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast logins in tests
# Pages render without `collectstatic`: plain static URLs, files served from the app folders.
_STATIC = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}
STORAGES = {**STORAGES, "staticfiles": _STATIC}  # noqa: F405
WHITENOISE_AUTOREFRESH = True
WHITENOISE_USE_FINDERS = True
# Every event the suite writes is signed, so the signature checks run everywhere. A key for
# tests only, never used elsewhere.
UAP_SIGNING_KEY = """-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEINSGGoSMSZyfRCy80wlgxc/dArFpoYDtKWQ6QS13cICm
-----END PRIVATE KEY-----
"""
# The suite builds its own databases per test and expects their ledgers empty;
# tests/app/test_test_databases.py turns this on where it is the subject.
UAP_TEST_DATABASES = False
