"""Integrity: schema fingerprint, out-of-band DDL capture, verification and evidence bundles."""
