"""Everything uap_migrate prints goes through here: control characters in data become visible.

Object names, error messages and file text come from the database and from files; an escape
sequence in them could retitle, clear or rewrite the operator's terminal. `escape` shows
them as `\\x1b`; the reporter's own colours are marks (with a per-run token nobody else
knows) turned into escape sequences only after the text was escaped.
"""

from __future__ import annotations

import re
import secrets

# C0 except tab, DEL, C1 (0x9b is CSI on 8-bit terminals), the bidi controls that reorder
# what is shown, and the Unicode line and paragraph separators. A newline in data (a file
# name, a quoted identifier, a RAISE message) would start a line of its own: a forged
# `✓ … applied` line, or a `::error` workflow command CI obeys.
_CONTROL_RE = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n"}


def escape(text: str) -> str:
    """`text` on one line: every control character written as `\\n`, `\\xNN` or `\\uNNNN`."""
    return _CONTROL_RE.sub(_visible, text)


def _visible(match: re.Match) -> str:
    char = match.group()
    code = ord(char)
    if char in _NAMED:
        return _NAMED[char]
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


class Block(str):
    """Text the reporter laid out over several lines (JSON, Markdown) whose data is escaped."""


class SafeStyle:
    """The command's style; its marks survive f-strings and are applied after escaping."""

    def __init__(self, style):
        self._style = style
        token = secrets.token_hex(8)
        self._open, self._close = f"\ue000{token}:", f"\ue001{token}"
        self._marked = re.compile(
            re.escape(self._open) + r"(\w+):(.*?)" + re.escape(self._close), re.DOTALL
        )

    def __getattr__(self, name: str):
        style = getattr(self._style, name)
        if not callable(style):
            return style
        return lambda text: f"{self._open}{name}:{text}{self._close}"

    def render(self, text: str) -> str:
        """Escaped text with the marks turned into the real style's escape sequences."""
        return self._marked.sub(lambda m: getattr(self._style, m[1])(m[2]), text)


class SafeStream:
    """A command output stream whose `write` escapes, then styles; `raw` bypasses both."""

    def __init__(self, stream, style: SafeStyle):
        self.raw, self._style = stream, style

    def write(self, msg: str = "", style_func=None, ending=None) -> None:
        """Write `msg` escaped onto one line (a Block: each of its lines), marks rendered."""
        lines = msg.split("\n") if isinstance(msg, Block) else [str(msg)]
        text = "\n".join(escape(line) for line in lines)
        self.raw.write(self._style.render(text), style_func, ending)

    def __getattr__(self, name: str):
        return getattr(self.raw, name)
