"""Attack: the signing key's private half printed by the checks when it is slightly off.

A PEM pasted with the quotes of an env file kept (docker --env-file keeps them), or with its
BEGIN line lost, is taken for a file path; the OSError that follows names the "path", i.e.
the private key, and `manage.py check` (every management command, CI logs) prints it.
"""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from schema_audit.ledger import signing


@pytest.mark.parametrize("spoil", ["quoted", "no_begin_line", "body_only"])
def test_a_spoilt_signing_key_is_never_printed(spoil, settings, capsys):
    """The check error names the problem without the key's base64 body."""
    pem = signing.private_pem(Ed25519PrivateKey.generate())
    body = next(line for line in pem.splitlines() if not line.startswith("-----"))
    settings.UAP_SIGNING_KEY = {
        "quoted": f'"{pem}"',
        "no_begin_line": pem.replace("-----BEGIN PRIVATE KEY-----", ""),
        "body_only": body,
    }[spoil]
    try:
        call_command("check")
        shown = ""
    except SystemCheckError as exc:
        shown = str(exc)
    captured = capsys.readouterr()
    shown += captured.out + captured.err
    assert "UAP_SIGNING_KEY" in shown  # the misconfiguration is reported
    assert body[:24] not in shown
