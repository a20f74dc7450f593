"""Reading an evidence bundle as hostile input: bounded, streamed, only what the manifest lists.

A zip can claim anything: duplicate names (zip tools disagree on which copy is shown), members
that expand a thousandfold, encrypted or unknown compression, a manifest that is not JSON. Each
is refused with a one-line reason (InvalidBundle, exit 2) or reported as a problem. Members are
hashed as streams and never held whole unless small: a genuine bundle of any size verifies in
memory bounded by its largest single event or small JSON member, not by its size.
"""

from __future__ import annotations

import hashlib
import json
import re
import zipfile
import zlib
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from schema_audit.exceptions import InvalidBundle

MANIFEST = "manifest.json"
MAX_MEMBERS = 100_000  # a real bundle holds a few members per migration file
MAX_MANIFEST_BYTES = 16 * 1024 * 1024  # names and hashes only
# A member read whole into memory (the small JSON members) is refused beyond this.
MAX_MEMBER_BYTES = 256 * 1024 * 1024
# A member read as a stream (events.json, the migration files) bounds work, not memory:
# the manifest's own sizes bind each member, this only ends a bomb without them.
MAX_STREAMED_BYTES = 64 * 1024**3
CHUNK_BYTES = 1024 * 1024
_SUPPORTED = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflate"}
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
# What a damaged member raises while it is decompressed.
_READ_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError, RuntimeError, ValueError)


@dataclass
class Bundle:
    """The manifest and the members whose bytes match it; `problems` say what did not."""

    manifest: dict
    manifest_sha256: str
    archive: zipfile.ZipFile
    source: object
    verified: dict[str, zipfile.ZipInfo] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def read(self, name: str) -> bytes | None:
        """A verified member's bytes (at most MAX_MEMBER_BYTES); None, with a problem, if not."""
        with self.open(name, MAX_MEMBER_BYTES) as stream:
            data = stream.read()
        return None if stream.failed else data

    @contextmanager
    def open(self, name: str, limit: int | None = None) -> Iterator[HashingReader]:
        """A verified member as a stream, hashed again as it is read (to its end on close)."""
        info = self.verified[name]
        reader = HashingReader(self.archive, info, limit or MAX_STREAMED_BYTES, self.source)
        try:
            yield reader
        finally:
            reader.finish()
        if reader.too_big:
            self.problems.append(f"{name}: over the {reader.limit:,} bytes it may be read whole")
        elif reader.digest.hexdigest() != self.manifest["files"][name]:
            self.problems.append(f"{name}: changed while it was read (modified)")
        else:
            return
        reader.failed = True


class HashingReader:
    """A member's decompressed bytes, read in chunks, hashed and counted as they pass."""

    def __init__(self, archive, info, limit: int, source):
        self.info, self.limit, self.source = info, limit, source
        self.digest, self.size = hashlib.sha256(), 0
        self.too_big = self.failed = False
        self._stream = self._guard(lambda: archive.open(info))

    def read(self, size: int = -1) -> bytes:
        """Up to `size` bytes (all that is left for -1), b"" at the end or past the limit."""
        if self.too_big:
            return b""
        if size is None or size < 0:
            return b"".join(iter(lambda: self.read(CHUNK_BYTES), b""))
        chunk = self._guard(lambda: self._stream.read(size))
        self.size += len(chunk)
        if self.size > self.limit:
            self.too_big = True
            return b""
        self.digest.update(chunk)
        return chunk

    def finish(self) -> None:
        """Read (and hash) what is left, then close."""
        while self.read(CHUNK_BYTES):
            pass
        self._stream.close()

    def _guard(self, action):
        try:
            return action()
        except _READ_ERRORS as exc:
            reason = str(exc) or type(exc).__name__
            raise InvalidBundle(
                f"member {self.info.filename!r} cannot be read: {reason}", self.source
            ) from exc
        except NotImplementedError as exc:
            raise InvalidBundle(
                f"member {self.info.filename!r} cannot be read: {exc}", self.source
            ) from exc


@contextmanager
def opened(source: str | Path | BinaryIO | zipfile.ZipFile, prefix: str = "") -> Iterator[Bundle]:
    """Open and check a bundle (the members under `prefix` of a fleet's zip); InvalidBundle
    when it cannot be trusted at all."""
    if isinstance(source, zipfile.ZipFile):
        archive, owned = source, False
    else:
        archive, owned = open_zip(source), True
    try:
        infos = {
            info.filename[len(prefix) :]: info
            for info in check_entries(archive.infolist(), source)
            if info.filename.startswith(prefix)
        }
        manifest_bytes = read_small(archive, infos.get(MANIFEST), MANIFEST, source)
        manifest = _parse_manifest(manifest_bytes, source)
        bundle = Bundle(manifest, hashlib.sha256(manifest_bytes).hexdigest(), archive, source)
        for name in sorted(infos):
            if name != MANIFEST and name not in manifest["files"]:
                # Not read at all: an unlisted member can be of any size.
                bundle.problems.append(f"{name}: not listed in the manifest (added); not read")
        for name, digest in sorted(manifest["files"].items()):
            _check_listed(infos.get(name), name, digest, bundle)
        yield bundle
    finally:
        if owned:
            archive.close()


def open_zip(source) -> zipfile.ZipFile:
    """The zip itself; InvalidBundle when it is none."""
    try:
        return zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError) as exc:
        raise InvalidBundle(f"not a readable evidence bundle (zip): {exc}", source) from exc


def check_entries(infos: list[zipfile.ZipInfo], source) -> list[zipfile.ZipInfo]:
    """The entries, once each name, none encrypted or compressed in an unknown way."""
    if len(infos) > MAX_MEMBERS:
        raise InvalidBundle(f"{len(infos):,} members, over the {MAX_MEMBERS:,} allowed", source)
    twice = sorted(name for name, count in Counter(i.filename for i in infos).items() if count > 1)
    if twice:
        raise InvalidBundle(
            f"member {twice[0]!r} appears more than once; zip tools disagree on which copy "
            "they show, so the bundle cannot be verified",
            source,
        )
    for info in infos:
        if info.flag_bits & 0x1:
            raise InvalidBundle(f"member {info.filename!r} is encrypted", source)
        if info.compress_type not in _SUPPORTED:
            raise InvalidBundle(
                f"member {info.filename!r} uses compression method {info.compress_type}; "
                "bundles use stored or deflate",
                source,
            )
    return infos


def read_small(archive, info, name: str, source) -> bytes:
    """A manifest's bytes, at most MAX_MANIFEST_BYTES; InvalidBundle when missing or bigger."""
    if info is None:
        raise InvalidBundle(f"not an evidence bundle: no {name}", source)
    reader = HashingReader(archive, info, MAX_MANIFEST_BYTES, source)
    data = reader.read()
    reader.finish()
    if reader.too_big:
        raise InvalidBundle(f"{name} is over {MAX_MANIFEST_BYTES:,} bytes", source)
    return data


def _parse_manifest(data: bytes, source) -> dict:
    try:
        manifest = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise InvalidBundle(f"{MANIFEST} is not UTF-8 (byte {exc.start})", source) from exc
    except ValueError as exc:
        raise InvalidBundle(f"{MANIFEST} is not JSON: {exc}", source) from exc
    reason = _manifest_shape_problem(manifest)
    if reason:
        raise InvalidBundle(f"{MANIFEST} {reason}", source)
    return manifest


def _manifest_shape_problem(manifest: object) -> str | None:
    """Why the manifest is not `{format, files: {name: sha256}, sizes?: {name: bytes}}`."""
    if not isinstance(manifest, dict):
        return f"is a JSON {type(manifest).__name__}, not an object"
    if not isinstance(manifest.get("format"), str):
        return "has no format"
    files = manifest.get("files")
    if not isinstance(files, dict):
        return "has no files object"
    for name, digest in files.items():
        if name == MANIFEST or not isinstance(digest, str) or not _SHA256_RE.match(digest):
            return f"lists {name!r} without a SHA-256"
    sizes = manifest.get("sizes", {})
    if not isinstance(sizes, dict) or not all(
        type(size) is int and size >= 0 for size in sizes.values()
    ):
        return "has sizes that are not byte counts"
    if not isinstance(manifest.get("created_at", ""), (str, type(None))):
        return "has a created_at that is not text"
    return None


def _check_listed(info, name: str, digest: str, bundle: Bundle) -> None:
    """Hash a listed member as a stream; it is `verified` only when it matches the manifest."""
    if info is None:
        bundle.problems.append(f"{name}: listed in the manifest but missing")
        return
    declared = bundle.manifest.get("sizes", {}).get(name)
    limit = MAX_STREAMED_BYTES if declared is None else min(declared, MAX_STREAMED_BYTES)
    if info.file_size > limit:
        bundle.problems.append(f"{name}: {_too_big(info.file_size, declared)}; not read")
        return
    reader = HashingReader(bundle.archive, info, limit, bundle.source)
    reader.finish()
    if reader.too_big:
        bundle.problems.append(f"{name}: expands beyond {limit:,} bytes; not read")
    elif reader.digest.hexdigest() != digest:
        bundle.problems.append(f"{name}: SHA-256 differs from the manifest (modified)")
    else:
        bundle.verified[name] = info


def _too_big(size: int, declared: int | None) -> str:
    if declared is not None and size > declared:
        return f"{size:,} bytes, but the manifest says {declared:,} (modified)"
    return f"{size:,} bytes, over the {MAX_STREAMED_BYTES:,} a member may have"
