"""Migration files on disk: discovery, header parsing, statements and lint. Never connects."""
