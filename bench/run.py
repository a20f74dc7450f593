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
        lines += ["BEGIN;", f"\\i {path}", f"INSERT INTO h(version) VALUES ('{path.stem}');"]
        lines.append("COMMIT;")
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
    return applied


def run_size(size: int, tools: list[str], repeat: int, slow_repeat: int, samples: dict) -> None:
    """Every tool's measures at one corpus size, interleaved, after one untimed warm-up."""
    corpus = WORK / f"corpus-{size}"
    if not (corpus / "uap").is_dir() or len(list((corpus / "uap").iterdir())) != size:
        shutil.rmtree(corpus, ignore_errors=True)
        subprocess.run(
            [sys.executable, str(BENCH / "gen_corpus.py"), str(size), str(corpus)], check=True
        )
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
                f"  {size:>5} run {rep + 1}/{repeat} {tool:<14} apply {seconds:.3f}s", flush=True
            )
        env = uap_env(fresh_database("bench_check"))
        samples.setdefault(("django-check", "startup", size), []).append(
            timed([PYTHON, "manage.py", "check"], env)[0]
        )


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


def paired(samples: dict, key: tuple, base: tuple) -> str:
    """Median of run-by-run ratios: each pair ran back to back, so shared load hits both."""
    pairs = [a / b for a, b in zip(samples.get(key, []), samples.get(base, []), strict=False) if b]
    return f"{statistics.median(pairs):.2f}×" if pairs else ""


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
    m = lambda *key: median(samples, key)  # noqa: E731
    u300, u3000 = m("uap", "apply", 300), m("uap", "apply", 3000)
    u_key = ("uap", "apply", 300)
    f300, f3000 = m("psql-floor", "apply", 300), m("psql-floor", "apply", 3000)
    d300 = m("dbmate", "apply", 300)
    if u300 and f300:
        target(
            "apply 300 ≤ 1.5× psql floor",
            u300 <= 1.5 * f300,
            f"{ratio(u300, f300)} (paired {paired(samples, u_key, ('psql-floor', 'apply', 300))})",
        )
    if u300 and d300:
        target(
            "apply 300 ≤ 1.0× dbmate",
            u300 <= d300,
            f"{ratio(u300, d300)} (paired {paired(samples, u_key, ('dbmate', 'apply', 300))})",
        )
    for size in sizes:
        noop, yoyo = m("uap", "noop", size), m("yoyo", "noop", size)
        if noop and yoyo:
            pair = paired(samples, ("uap", "noop", size), ("yoyo", "noop", size))
            target(
                f"no-op rerun {size} ≤ yoyo no-op",
                noop <= yoyo,
                f"{ratio(noop, yoyo)} (paired {pair})",
            )
    if u300 and u3000:
        floor_scale = f" (psql floor: {ratio(f3000, f300)})" if f300 and f3000 else ""
        target(
            "apply 3000 ≤ 10.5× apply 300",
            u3000 <= 10.5 * u300,
            ratio(u3000, u300) + floor_scale,
        )
    if u3000 and f3000:
        per = (u3000 - f3000) / 3000 * 1000
        marginal = ""
        if u300 and f300:
            marginal = f"; marginal {((u3000 - u300) - (f3000 - f300)) / 2700 * 1000:.2f} ms"
        target(
            "overhead per migration over the floor ≤ 2 ms",
            per <= 2.0,
            f"{per:.2f} ms at 3000 (start-up included){marginal}",
        )
    check = m("django-check", "startup", 300)
    if check and f300:
        out.append(
            f"\nStart-up bound: `manage.py check` alone takes {check:.3f} s, so any Django "
            f"command applying 300 takes at least {check + f300:.3f} s "
            f"({(check + f300) / f300:.2f}× the psql floor)."
        )
    rss = m("uap", "rss_kib", 3000)
    if rss:
        out += [
            "",
            f"Peak RSS of uap_migrate applying 3000: {rss / 1024:.0f} MiB (median).",
        ]
    return "\n".join(out), targets


def raw_samples(samples: dict) -> str:
    """Every run's seconds, so the spread behind each median can be judged."""
    lines = ["<details><summary>Every run (seconds)</summary>", ""]
    for (tool, op, size), values in sorted(samples.items(), key=lambda item: item[0][2]):
        if op != "rss_kib":
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="300,3000")
    parser.add_argument("--repeat", type=int, default=5, help="runs per measure, at least 3")
    parser.add_argument(
        "--repeat-slow", type=int, default=3, help="runs of psql per file and sqitch at 3000"
    )
    parser.add_argument("--only", default=",".join(TOOLS), help="comma-separated tools")
    parser.add_argument("--out", default=str(RESULTS / "latest.md"))
    parser.add_argument(
        "--from-samples", metavar="JSON", help="write the report from a saved run; run nothing"
    )
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    tools = [t for t in args.only.split(",") if t]
    if args.from_samples:
        saved = json.loads(Path(args.from_samples).read_text())
        samples = {tuple(k.split("|")[:2]) + (int(k.split("|")[2]),): v for k, v in saved.items()}
        started = datetime.fromtimestamp(Path(args.from_samples).stat().st_mtime, timezone.utc)
    else:
        samples, started = {}, datetime.now(timezone.utc)
        for size in sizes:
            slow = args.repeat if size <= 1000 else min(args.repeat, args.repeat_slow)
            run_size(size, tools, args.repeat, slow, samples)
        drop_databases([f"bench_{tool.replace('-', '_')}" for tool in TOOLS] + ["bench_check"])
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
