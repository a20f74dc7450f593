"""What `uap_migrate` prints before a deploy: the dry-run trace and lint in every format."""

from __future__ import annotations

import re

from schema_audit.cli.terminal import Block, escape
from schema_audit.engine.locks import strongest_locks
from schema_audit.engine.trace_table import STATEMENT_COLUMNS, signed_size, statement_cells

_BADGE = {"safe": "🟢 safe", "review": "🟡 review", "dangerous": "🔴 dangerous"}


# Inline Markdown's punctuation (code, emphasis, links, images, tables, strike-through):
# each is written backslash-escaped, so it stays literal text (`_` inside a word is no
# emphasis and stays as it is: `orders_pkey`).
_MARKDOWN_SPECIAL = re.compile(r"([\\`*\[\]!|~]|(?<![^\W_])_|_(?![^\W_]))")


def _markdown_cell(text: str) -> str:
    # Relation names and file names come from the database and the directory: in a PR
    # comment they are literal text, never a table pipe, code span, link, HTML or mention.
    text = " ".join(text.split())
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = _MARKDOWN_SPECIAL.sub(r"\\\1", text)
    return text.replace("@", "&#64;")


def markdown(result: dict) -> str:
    """A pull request comment: the verdict, one row per file, each file's statements folded."""
    traces = [item["trace"] for item in result["dry_run"] if item.get("trace")]
    verdict = result.get("verdict", "safe")
    lines = [
        f"### Migration trace: {_BADGE[verdict]}",
        "",
        f"Database at version {_markdown_cell(result['current_version'] or 'none')}; "
        f"{len(traces)} pending "
        "file(s) traced in a transaction that was rolled back.",
        "",
        "| File | Verdict | Duration | Blocking locks | Rewrites | Size change |",
        "|---|---|---|---|---|---|",
    ]
    for trace in traces:
        blocking = {
            f"{lock['mode']} {lock['relation']}"
            for lock in strongest_locks(trace["locks"])
            if lock["blocks"]
        }
        rewrites = sorted({r["relation"] for r in trace["rewrites"]})
        cells = (
            f"{trace['version']} {trace['name']}",
            _BADGE[trace["verdict"]],
            f"{trace['duration_ms']:,} ms",
            ", ".join(sorted(blocking)) or "-",
            ", ".join(rewrites) or "-",
            signed_size(trace["size_change_bytes"]) or "-",
        )
        lines.append("| " + " | ".join(_markdown_cell(c) for c in cells) + " |")
    for trace in traces:
        label = _markdown_cell(f"{trace['version']} {trace['name']}")
        lines += ["", f"<details><summary>{label}: {trace['verdict']}</summary>\n"]
        lines += [f"- {_markdown_cell(reason)}" for reason in trace["reasons"]]
        lines += ["", "| " + " | ".join(STATEMENT_COLUMNS) + " |", "|---" * 7 + "|"]
        for statement in trace["statements"]:
            cells = statement_cells(statement)
            lines.append("| " + " | ".join(_markdown_cell(c) for c in cells) + " |")
        lines += ["", "</details>"]
    return Block("\n".join(lines))


def github_line(finding: dict) -> str:
    """A GitHub Actions workflow command that annotates the file and line."""
    level = "error" if finding["level"] == "error" else "warning"
    path = _github_escape(finding["path"], property_value=True)
    title = _github_escape(finding["rule"], property_value=True)
    message = _github_escape(finding["message"])
    return f"::{level} file={path},line={finding['line']},title={title}::{message}"


def _github_escape(text: str, *, property_value: bool = False) -> str:
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    if property_value:
        text = text.replace(":", "%3A").replace(",", "%2C")
    return text


def gcc_line(finding: dict) -> str:
    """`file:line:1: error: message [rule]`, the form editors and CI parsers read."""
    message = " ".join(finding["message"].split())
    path = escape(finding["path"])  # one finding, one line, whatever the file is called
    return f"{path}:{finding['line']}:1: {finding['level']}: {message} [{finding['rule']}]"


class DeployReport:
    """The Reporter's output for --dry-run --trace and the machine formats of --lint."""

    def traced(self, result: dict, code: int) -> None:
        """The trace as a table per file, or as Markdown."""
        if self.fmt == "markdown":
            self.out.write(markdown(result))
        else:
            self._trace_tables(result)

    def _trace_tables(self, result: dict) -> None:
        for item in result["dry_run"]:
            trace = item.get("trace")
            if not trace:
                self.out.write(f"- {item['version']} {item['name']}  {item['status']}")
                continue
            mark = {"safe": self.style.SUCCESS, "dangerous": self.style.ERROR}.get(
                trace["verdict"], self.style.WARNING
            )
            self.out.write(
                f"{item['version']} {item['name']}  {item['duration_ms']} ms  "
                + mark(trace["verdict"].upper())
            )
            for reason in trace["reasons"]:
                self.out.write(f"    {reason}")
            self._table(STATEMENT_COLUMNS, trace["statements"])
        counts = result.get("verdicts", {})
        self.out.write(
            f"Trace: {counts.get('dangerous', 0)} dangerous, {counts.get('review', 0)} to "
            f"review, {counts.get('safe', 0)} safe. Dry run: {result['successful']} would apply, "
            f"{result['failed']} would fail, {result['skipped']} skipped; everything was "
            "rolled back."
        )

    def _table(self, header: tuple[str, ...], statements: list[dict]) -> None:
        # A cell wider than CELL_WIDTH wraps onto continuation lines; JSON keeps every lock.
        rows = [header, *(statement_cells(s) for s in statements)]
        wrapped = [[_wrap(cell) for cell in row] for row in rows]
        widths = [max(len(line) for row in wrapped for line in row[i]) for i in range(len(header))]
        for row in wrapped:
            for depth in range(max(len(lines) for lines in row)):
                cells = (
                    (lines[depth] if depth < len(lines) else "").ljust(width)
                    for lines, width in zip(row, widths, strict=True)
                )
                self.out.write(("  " + "  ".join(cells)).rstrip())

    def lint_formatted(self, result: dict) -> None:
        """Findings as GitHub annotations or gcc-style lines; the summary goes to stderr."""
        render = github_line if self.fmt == "github" else gcc_line
        for finding in result["findings"]:
            self.out.write(render(finding))
        self.err.write(
            f"Linted {result['files']} file(s): {result['errors']} error(s), "
            f"{result['warnings']} warning(s)."
        )


CELL_WIDTH = 60


def _wrap(cell: str) -> list[str]:
    """A table cell as lines of at most CELL_WIDTH, broken after its list commas."""
    if len(cell) <= CELL_WIDTH:
        return [cell]
    lines = [""]
    for part in cell.split(", "):
        candidate = f"{lines[-1]}, {part}" if lines[-1] else part
        if lines[-1] and len(candidate) > CELL_WIDTH:
            lines[-1] += ","
            lines.append(part)
        else:
            lines[-1] = candidate
    return lines
