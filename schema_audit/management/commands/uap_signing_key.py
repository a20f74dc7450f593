"""`manage.py uap_signing_key`: a new Ed25519 key pair for signing ledger events."""

from __future__ import annotations

import os

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core.management.base import BaseCommand, CommandError

from schema_audit.ledger import signing


class Command(BaseCommand):
    """Print (or write with mode 0600) a private key; the public key and its id to stderr."""

    help = (
        "Generate an Ed25519 key pair for UAP_SIGNING_KEY. The private key (PEM) goes to "
        "stdout or --out (created 0600, never overwritten); its public key and key id, to "
        "publish and to keep in UAP_SIGNING_PUBLIC_KEYS after a rotation, go to stderr."
    )
    requires_system_checks: list = []  # it fixes the configuration the checks complain about

    def add_arguments(self, parser) -> None:
        """--out PATH."""
        parser.add_argument("--out", metavar="PATH", help="write the private key to PATH")

    def handle(self, *args, out: str | None = None, **options) -> None:
        """Generate, write, report."""
        key = Ed25519PrivateKey.generate()
        pem = signing.private_pem(key)
        if out:
            try:
                # O_EXCL: an existing key is never replaced by accident (events it signed
                # would no longer verify without its public half).
                fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except OSError as exc:
                raise CommandError(f"cannot create {out}: {exc.strerror}") from exc
            with os.fdopen(fd, "w", encoding="ascii") as handle:
                handle.write(pem)
        else:
            self.stdout.write(pem, ending="")
        public = key.public_key()
        self.stderr.write(f"key id: {signing.key_id(public)}")
        self.stderr.write(signing.public_pem(public), ending="")
