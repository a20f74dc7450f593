#!/usr/bin/env python3
"""Apply the same corpus with uap_migrate and its peers on one PostgreSQL; write the results.

Usage: bench/run.py [--sizes 300,3000] [--repeat 5] [--repeat-slow 3] [--only uap,dbmate,...]
Each measure is the median of several runs, each in a freshly created database; the tools
take turns inside every repetition so that load from other processes hits them alike.
Standard library only: it drives the project's virtualenv and the peers as subprocesses.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
PEERS = BENCH / ".peers"
WORK = BENCH / ".work"
RESULTS = BENCH / "results"
SERVER = os.environ.get("BENCH_SERVER", "postgresql://postgres@127.0.0.1:5432")
PSQL = shutil.which("psql") or "/usr/bin/psql"
PYTHON = str(ROOT / ".venv" / "bin" / "python")
TOOLS = ("uap", "psql-floor", "psql-per-file", "dbmate", "yoyo", "sqitch")
PEER_TOOLS = ("psql-per-file", "dbmate", "yoyo", "sqitch")


def fresh_database(name: str) -> str:
    """Drop and create `name`; its URL."""
    subprocess.run(
        [PSQL, f"{SERVER}/postgres", "-qAt", "-v", "ON_ERROR_STOP=1"]
        + ["-c", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)", "-c", f"CREATE DATABASE {name}"],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    # The previous tool's dirty pages would otherwise be written during the next tool's run.
    subprocess.run([PSQL, f"{SERVER}/postgres", "-qAtc", "CHECKPOINT"], check=True)
    return f"{SERVER}/{name}"


def drop_databases(names: list[str]) -> None:
    """Leave the server as it was found."""
    drops = [
        arg for name in names for arg in ("-c", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    ]
    subprocess.run([PSQL, f"{SERVER}/postgres", "-qAt", *drops], check=True, capture_output=True)


def timed(argv: list[str], env: dict | None = None) -> tuple[float, int]:
    """Wall seconds and peak RSS (KiB) of one command; RuntimeError if it fails."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT
    )
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode(errors="replace")
    proc.stderr.close()
    if proc.returncode:
        raise RuntimeError(f"{' '.join(argv[:4])}… exited {proc.returncode}:\n{err[-2000:]}")
    return elapsed, usage.ru_maxrss


def uap_env(url: str) -> dict:
    """The environment uap_migrate runs in: the common server, no .env surprises."""
    env = dict(os.environ, DATABASE_URL=url, SECRET_KEY=os.environ.get("SECRET_KEY", "bench"))
    env.pop("UAP_MIGRATIONS_DIR", None)
    return env


def floor_script(corpus: Path) -> Path:
    """psql in one session: one transaction per file plus a history insert (the floor)."""
    script = corpus / "floor.psql"
    lines = [
        "\\set ON_ERROR_STOP 1",
        "CREATE TABLE h(version text PRIMARY KEY, applied_at timestamptz DEFAULT now());",
    ]
    for path in sorted((corpus / "plain").glob("*.sql")):
        record = f"INSERT INTO h(version) VALUES ('{path.stem}');"
        if "CONCURRENTLY" in path.read_text():  # cannot run inside a transaction block
            lines += [f"\\i {path}", record]
        else:
            lines += ["BEGIN;", f"\\i {path}", record, "COMMIT;"]
    script.write_text("\n".join(lines) + "\n")
    return script


def commands(tool: str, corpus: Path, url: str) -> dict[str, list[str]]:
    """argv of each operation a tool supports: apply, noop (apply again), status, plan."""
    dbname = url.rsplit("/", 1)[1]
    if tool == "uap":
        base = [PYTHON, "manage.py", "uap_migrate", "--dir", str(corpus / "uap")]
        return {
            "apply": base,
            "noop": base,
            "status": base + ["--status"],
            "plan": base + ["--plan"],
        }
    if tool == "psql-floor":
        return {"apply": [PSQL, url, "-q", "-f", str(corpus / "floor.psql")]}
    if tool == "psql-per-file":
        psql = f'{PSQL} "$2" -q -1 -v ON_ERROR_STOP=1 -f "$f"'
        loop = f'for f in "$1"/plain/*.sql; do {psql} || exit 1; done'
        return {"apply": ["bash", "-c", loop, "loop", str(corpus), url]}
    if tool == "dbmate":
        base = [str(PEERS / "node_modules" / ".bin" / "dbmate"), "--url", f"{url}?sslmode=disable"]
        base += ["--migrations-dir", str(corpus / "dbmate"), "--no-dump-schema"]
        return {"apply": base + ["up"], "noop": base + ["up"], "status": base + ["status"]}
    if tool == "yoyo":
        yoyo = [str(PEERS / "yoyo" / "bin" / "yoyo")]
        where = [
            "--no-config-file",
            "--database",
            url.replace("postgresql:", "postgresql+psycopg:"),
        ]
        apply = yoyo + ["apply", "--batch", *where, str(corpus / "yoyo")]
        return {
            "apply": apply,
            "noop": apply,
            "status": yoyo + ["list", *where, str(corpus / "yoyo")],
        }
    if tool == "sqitch":
        target = f"db:pg://{SERVER.split('://', 1)[1]}/{dbname}"
        deploy = ["sqitch", "-C", str(corpus / "sqitch"), "deploy", target]
        return {
            "apply": deploy,
            "noop": deploy,
            "status": ["sqitch", "-C", str(corpus / "sqitch"), "status", target],
        }
    raise ValueError(tool)


SLOW_TOOLS = ("psql-per-file", "sqitch")  # minutes per run at 3000: fewer runs there


def run_once(tool: str, corpus: Path, size: int, samples: dict | None) -> float:
    """One fresh database, every operation of one tool; the apply's seconds."""
    url = fresh_database(f"bench_{tool.replace('-', '_')}")
    ops = commands(tool, corpus, url)
    env = uap_env(url) if tool == "uap" else None
    applied = 0.0
    for op in ("apply", "noop", "status", "plan"):
        if op not in ops:
            continue
        seconds, rss = timed(ops[op], env)
        applied = applied or seconds
        if samples is not None:
            samples.setdefault((tool, op, size), []).append(seconds)
            if tool == "uap" and op == "apply":
                samples.setdefault(("uap", "rss_kib", size), []).append(rss)
    if tool == "uap" and samples is not None:
        noop_pairs(ops["noop"], env, size, samples)
    return applied


NOOP_PAIRS = 3  # adjacent (no-op, check) pairs per repetition, in alternating order


def noop_pairs(noop: list[str], env: dict, size: int, samples: dict) -> None:
    """The no-op rerun and `manage.py check` back to back, first one then the other first:
    adjacent runs share the machine's moment, which on a shared host moves both by a
    third or more between repetitions."""
    check = [PYTHON, "manage.py", "check"]
    for turn in range(NOOP_PAIRS):
        order = (("uap", noop), ("django-check", check))
        for tool, argv in order if turn % 2 == 0 else reversed(order):
            samples.setdefault((tool, "noop-pair", size), []).append(timed(argv, env)[0])


HISTORY_TOOLS = ("uap", "psql-floor", "dbmate", "yoyo")  # gen_history.py writes their layouts


def corpus_for(label: str | int) -> tuple[Path, list[str]]:
    """The corpus directory of a label (300, or `history-300`), generated when missing."""
    corpus = WORK / f"corpus-{label}"
    history = str(label).startswith("history-")
    size = int(str(label).removeprefix("history-"))
    if not (corpus / "uap").is_dir() or len(list((corpus / "uap").iterdir())) != size:
        shutil.rmtree(corpus, ignore_errors=True)
        generator = BENCH / ("gen_history.py" if history else "gen_corpus.py")
        subprocess.run([sys.executable, str(generator), str(size), str(corpus)], check=True)
    return corpus, list(HISTORY_TOOLS) if history else list(TOOLS)


def run_size(size, tools: list[str], repeat: int, slow_repeat: int, samples: dict) -> None:
    """Every tool's measures on one corpus, interleaved, after one untimed warm-up."""
    corpus, usable = corpus_for(size)
    tools = [tool for tool in tools if tool in usable]
    floor_script(corpus)
    for tool in tools:
        if tool not in SLOW_TOOLS:  # page cache, bytecode and catalog caches warm for everyone
            run_once(tool, corpus, size, None)
    for rep in range(repeat):
        for tool in tools:
            if tool in SLOW_TOOLS and rep >= slow_repeat:
                continue
            seconds = run_once(tool, corpus, size, samples)
            print(
                f"  {size!s:>11} run {rep + 1}/{repeat} {tool:<14} apply {seconds:.3f}s",
                flush=True,
            )
        env = uap_env(fresh_database("bench_check"))
        samples.setdefault(("django-check", "startup", size), []).append(
            timed([PYTHON, "manage.py", "check"], env)[0]
        )
    if "uap" in tools:
        samples[("uap", "cpu_ms", size)] = [cpu_per_file(corpus)]


def cpu_per_file(corpus: Path) -> float:
    """Median Python CPU per applied file (ms), from bench/cpu_per_file.py in a fresh database."""
    env = uap_env(fresh_database("bench_cpu"))
    argv = [PYTHON, str(BENCH / "cpu_per_file.py"), str(corpus / "uap")]
    done = subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, text=True, check=True)
    return json.loads(done.stdout)["median_ms"]


def admin_measures(rows: int, samples: dict) -> None:
    """p50/p95 of the admin pages with `rows` versions and events (bench/admin_bench.py)."""
    # DEBUG serves the admin's static files without collectstatic; the pages are the same.
    env = {**uap_env(fresh_database("bench_admin")), "ALLOWED_HOSTS": "testserver", "DEBUG": "1"}
    argv = [PYTHON, str(BENCH / "admin_bench.py"), "--rows", str(rows), "--requests", "20"]
    done = subprocess.run(
        [*argv, "--json"], env=env, cwd=ROOT, capture_output=True, text=True, check=True
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    for page, (p50, p95) in result["pages"].items():
        samples[("admin", page, rows)] = [p50, p95]
    samples[("admin", "sort_index", rows)] = [float(result["sort_index"])]


def median(samples: dict, key: tuple) -> float | None:
    values = samples.get(key)
    return statistics.median(values) if values else None


ROWS = (
    ("apply 300", "apply", 300),
    ("apply 3000", "apply", 3000),
    ("no-op rerun 300", "noop", 300),
    ("no-op rerun 3000", "noop", 3000),
    ("--status 3000", "status", 3000),
    ("--plan 3000", "plan", 3000),
    ("history-like 300: apply", "apply", "history-300"),
    ("history-like 300: no-op rerun", "noop", "history-300"),
)


def floor_of(samples: dict, op: str, size: int) -> tuple[str, float | None]:
    """The floor a measure is compared with: psql in one session, or Django's own start-up."""
    if op == "apply":
        return "psql one session", median(samples, ("psql-floor", "apply", size))
    return "manage.py check", median(samples, ("django-check", "startup", size))


def best_peer(samples: dict, op: str, size: int) -> tuple[str, float | None]:
    """The fastest peer at one measure (psql per file, dbmate, yoyo, sqitch)."""
    timed_peers = [
        (value, tool)
        for tool in PEER_TOOLS
        if (value := median(samples, (tool, op, size))) is not None
    ]
    if not timed_peers:
        return "-", None
    value, tool = min(timed_peers)
    return tool, value


def pair_ratios(samples: dict, key: tuple, base: tuple) -> list[float]:
    """Run-by-run ratios: each pair ran back to back, so shared load hits both alike."""
    return [a / b for a, b in zip(samples.get(key, []), samples.get(base, []), strict=False) if b]


def paired(samples: dict, key: tuple, base: tuple) -> str:
    """Median of the run-by-run ratios, with their spread."""
    pairs = pair_ratios(samples, key, base)
    if not pairs:
        return ""
    spread = f" ({min(pairs):.2f}–{max(pairs):.2f})" if len(pairs) > 1 else ""
    return f"{statistics.median(pairs):.2f}×{spread}"


def cell(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"


def ratio(a: float | None, b: float | None) -> str:
    return "" if a is None or not b else f"{a / b:.2f}×"


def report(samples: dict, sizes: list[int]) -> tuple[str, list[bool]]:
    """Markdown: the table of medians, the ratios and the targets; and each target's verdict."""
    out = [
        "| measure (median s) | uap_migrate | psql one session | psql per file | dbmate "
        "| yoyo | sqitch | manage.py check |",
        "|---" * 8 + "|",
    ]
    rows = [row for row in ROWS if row[2] in sizes]
    for label, op, size in rows:
        values = [median(samples, (tool, op, size)) for tool in TOOLS]
        check = median(samples, ("django-check", "startup", size)) if op != "apply" else None
        out.append(f"| {label} | " + " | ".join(cell(v) for v in [*values, check]) + " |")
    out += [
        "",
        "| measure | uap / floor | paired | floor | uap / best peer | paired | best peer |",
        "|---" * 7 + "|",
    ]
    for label, op, size in rows:
        uap = median(samples, ("uap", op, size))
        floor_name, floor = floor_of(samples, op, size)
        peer_name, peer = best_peer(samples, op, size)
        floor_key = (
            ("psql-floor", op, size) if op == "apply" else ("django-check", "startup", size)
        )
        out.append(
            f"| {label} | {ratio(uap, floor)} | {paired(samples, ('uap', op, size), floor_key)} "
            f"| {floor_name} {cell(floor)} s | {ratio(uap, peer)} "
            f"| {paired(samples, ('uap', op, size), (peer_name, op, size))} "
            f"| {peer_name} {cell(peer)} s |"
        )
    targets = []

    def target(text: str, ok: bool | None, detail: str) -> None:
        if ok is None:
            return
        targets.append(ok)
        out.append(f"| {text} | {detail} | {'met' if ok else 'MISSED'} |")

    out += ["", "| target | measured | verdict |", "|---|---|---|"]
    for text, ok, detail in issue_targets(samples):
        target(text, ok, detail)
    m = lambda *key: median(samples, key)  # noqa: E731
    f300 = m("psql-floor", "apply", 300)
    check = m("django-check", "startup", 300)
    if check and f300:
        out.append(
            f"\nStart-up bound: `manage.py check` alone takes {check:.3f} s, so any Django "
            f"command applying 300 takes at least {check + f300:.3f} s "
            f"({(check + f300) / f300:.2f}× the psql floor)."
        )
    cpu = {label: m("uap", "cpu_ms", label) for label in (300, 3000, "history-300")}
    if any(value is not None for value in cpu.values()):
        shown = ", ".join(f"{v:.3f} ms ({k})" for k, v in cpu.items() if v is not None)
        out.append(
            f"\nPython CPU per applied file (median; a figure of this machine, not a target): "
            f"{shown}."
        )
    rss = m("uap", "rss_kib", 3000)
    if rss:
        out += [
            "",
            f"Peak RSS of uap_migrate applying 3000: {rss / 1024:.0f} MiB (median).",
        ]
    return "\n".join(out), targets


def _versus_floor(samples: dict, label, factor: float, what: str):
    """`uap apply ≤ factor × (psql one session + manage.py check)` on one corpus."""
    uap, floor = (
        median(samples, ("uap", "apply", label)),
        median(samples, ("psql-floor", "apply", label)),
    )
    check = median(samples, ("django-check", "startup", label))
    if not (uap and floor and check):
        return None
    bound = floor + check
    detail = f"{uap:.3f} s vs {floor:.3f} + {check:.3f} s: {uap / bound:.2f}×"
    return (
        f"{what} ≤ {factor}× (psql one session + manage.py check)",
        uap <= factor * bound,
        detail,
    )


def issue_targets(samples: dict) -> list[tuple[str, bool, str]]:
    """The targets `make bench` checks: (what, met, measured)."""
    m = lambda *key: median(samples, key)  # noqa: E731
    found = [_versus_floor(samples, 300, 1.15, "apply 300")]
    found.append(_versus_floor(samples, "history-300", 1.15, "history-like 300"))
    # Judged by the paired median: single medians of a shared machine move by a quarter.
    u3000, d3000 = m("uap", "apply", 3000), m("dbmate", "apply", 3000)
    if u3000 and d3000:
        pairs = pair_ratios(samples, ("uap", "apply", 3000), ("dbmate", "apply", 3000))
        pair = paired(samples, ("uap", "apply", 3000), ("dbmate", "apply", 3000))
        found.append(
            (
                "apply 3000 ≤ 1.05× dbmate (paired median), with a chained, durable ledger",
                bool(pairs) and statistics.median(pairs) <= 1.05,
                f"paired {pair}; medians {u3000 / d3000:.2f}×",
            )
        )
    noop, check = m("uap", "noop-pair", 3000), m("django-check", "noop-pair", 3000)
    if noop and check:
        adjacent = ("uap", "noop-pair", 3000), ("django-check", "noop-pair", 3000)
        pairs, pair = pair_ratios(samples, *adjacent), paired(samples, *adjacent)
        found.append(
            (
                "no-op rerun 3000 ≤ 1.05× manage.py check (paired median)",
                bool(pairs) and statistics.median(pairs) <= 1.05,
                f"paired {pair}; medians {noop / check:.2f}×",
            )
        )
    for (tool, page, rows), values in samples.items():
        if tool == "admin" and page == "summary":
            text = f"admin summary at {rows:,} events: p95 ≤ 300 ms"
            found.append(
                (text, values[1] <= 300, f"p50 {values[0]:.0f} ms, p95 {values[1]:.0f} ms")
            )
        if tool == "admin" and page == "sort_index":
            sorted_page = samples.get(("admin", "changelist", rows), [0, 0])
            found.append(
                (
                    f"sort {rows:,} versions on the version-order index, no per-request sort",
                    bool(values[0]),
                    f"index scan: {bool(values[0])}; changelist p95 {sorted_page[1]:.0f} ms",
                )
            )
    return [item for item in found if item is not None]


def raw_samples(samples: dict) -> str:
    """Every run's seconds, so the spread behind each median can be judged."""
    lines = ["<details><summary>Every run (seconds)</summary>", ""]
    for (tool, op, size), values in sorted(samples.items(), key=lambda item: str(item[0][2])):
        if op not in ("rss_kib", "sort_index") and tool != "admin":
            lines.append(f"- {tool} {op} {size}: " + ", ".join(f"{v:.3f}" for v in values))
    return "\n".join([*lines, "", "</details>"])


def machine() -> str:
    """CPU, cores, memory, server and peer versions, for the results' header."""
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    mem = next(
        line.split()[1]
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal")
    )
    server = subprocess.run(
        [PSQL, f"{SERVER}/postgres", "-qAtc", "SHOW server_version"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    return (
        f"{cpu}, {os.cpu_count()} cores, {int(mem) // 1024 // 1024} GiB, "
        f"{platform.system()} {platform.release()}; PostgreSQL {server} at {SERVER.split('@')[-1]}"
    )


def _label(text: str):
    return int(text) if text.isdigit() else text


def compile_project() -> None:
    """Byte-compile the project, as pip does for an installed package (and did for Django and
    yoyo): with PYTHONDONTWRITEBYTECODE set, every run would compile it from source again,
    and `manage.py check` and uap_migrate would each pay for it differently."""
    dirs = [str(ROOT / "schema_audit"), str(ROOT / "uap_project")]
    subprocess.run(
        [PYTHON, "-m", "compileall", "-q", *dirs], check=True, stdout=subprocess.DEVNULL
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="300,3000")
    parser.add_argument("--repeat", type=int, default=5, help="runs per measure, at least 3")
    parser.add_argument(
        "--repeat-slow", type=int, default=3, help="runs of psql per file and sqitch at 3000"
    )
    parser.add_argument("--only", default=",".join(TOOLS), help="comma-separated tools")
    parser.add_argument(
        "--history", type=int, default=300, help="files of the history-like corpus (0: none)"
    )
    parser.add_argument(
        "--admin-rows", type=int, default=100_000, help="admin pages at this size (0: skip)"
    )
    parser.add_argument("--out", default=str(RESULTS / "latest.md"))
    parser.add_argument(
        "--from-samples", metavar="JSON", help="write the report from a saved run; run nothing"
    )
    args = parser.parse_args()
    sizes: list = [int(s) for s in args.sizes.split(",") if s]
    if args.history:
        sizes.append(f"history-{args.history}")
    tools = [t for t in args.only.split(",") if t]
    if args.from_samples:
        saved = json.loads(Path(args.from_samples).read_text())
        samples = {
            tuple(k.split("|")[:2]) + (_label(k.split("|")[2]),): v for k, v in saved.items()
        }
        started = datetime.fromtimestamp(Path(args.from_samples).stat().st_mtime, timezone.utc)
    else:
        samples, started = {}, datetime.now(timezone.utc)
        compile_project()
        for size in sizes:
            big = isinstance(size, int) and size > 1000
            slow = min(args.repeat, args.repeat_slow) if big else args.repeat
            run_size(size, tools, args.repeat, slow, samples)
        if args.admin_rows:
            admin_measures(args.admin_rows, samples)
        scratch = ["bench_check", "bench_cpu", "bench_admin"]
        drop_databases([f"bench_{tool.replace('-', '_')}" for tool in TOOLS] + scratch)
        saved = {"|".join(map(str, key)): values for key, values in samples.items()}
        (WORK / "samples.json").write_text(json.dumps(saved, indent=1))
    body, verdicts = report(samples, sizes)
    versions = (
        (WORK / "versions.txt").read_text().strip() if (WORK / "versions.txt").exists() else ""
    )
    text = (
        f"# Benchmark results\n\n{started:%Y-%m-%d %H:%M} UTC. Each value is the median of "
        f"{args.repeat} runs ({args.repeat_slow} for psql per file and sqitch at 3000), each in "
        f"a fresh database, the tools taking turns within each run after one untimed warm-up "
        f"run.\n\nMachine: {machine()}.\n\n"
        f"{versions}\n\n{body}\n\n"
        f"{sum(verdicts)} of {len(verdicts)} targets met.\n\n{raw_samples(samples)}\n"
    )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    scratch = out.with_suffix(".md.tmp")
    scratch.write_text(text)
    scratch.replace(out)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
