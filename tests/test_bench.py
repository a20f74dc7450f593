"""The benchmark's corpus and verdicts: the corpus applies cleanly, targets are judged right."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "bench"


def _bench_run():
    spec = importlib.util.spec_from_file_location("bench_run", BENCH / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _corpus(tmp_path: Path, size: int) -> Path:
    out = tmp_path / "corpus"
    subprocess.run([sys.executable, str(BENCH / "gen_corpus.py"), str(size), str(out)], check=True)
    return out


def test_corpus_has_the_same_migrations_in_every_layout(tmp_path):
    """Every peer's layout holds the same N migrations with the same SQL."""
    corpus = _corpus(tmp_path, 9)
    plain = sorted((corpus / "plain").iterdir())
    assert len(plain) == 9
    for layout in ("uap", "dbmate", "yoyo", "sqitch/deploy"):
        assert len(list((corpus / layout).iterdir())) == 9
    sql = plain[2].read_text()
    assert (corpus / "uap" / plain[2].name).read_text().endswith(sql)
    assert (corpus / "sqitch/deploy/step_3.sql").read_text() == f"BEGIN;\n{sql}COMMIT;\n"
    assert len((corpus / "sqitch/sqitch.plan").read_text().splitlines()) == 3 + 9


def test_corpus_applies_with_uap_migrate_then_reruns_as_a_no_op(tmp_path, database, uap):
    """The uap layout is valid input: applied in full, then nothing left to do."""
    corpus = _corpus(tmp_path, 8)
    first = uap(directory=corpus / "uap")
    assert first.code == 0, first.err
    assert "Applied 8 migration(s)" in first.out
    assert database.scalar("SELECT count(*) FROM schema_migrations") == 8
    assert database.scalar("SELECT count(*) FROM t4") == 200  # created by 4, filled by 7
    again = uap(directory=corpus / "uap")
    assert again.code == 0 and "Nothing to apply" in again.out


def test_targets_are_judged_against_medians_measured_in_the_same_run():
    """Medians decide; a ratio just over a limit is missed, one within it is met."""
    run = _bench_run()
    samples = {
        ("uap", "apply", 300): [0.70, 0.71, 0.69],
        ("psql-floor", "apply", 300): [0.40, 0.40, 0.41],
        ("django-check", "startup", 300): [0.20, 0.19, 0.21],
        ("uap", "apply", 3000): [5.0, 5.2, 4.9],
        ("dbmate", "apply", 3000): [5.1, 5.0, 5.3],
        ("uap", "noop", 3000): [0.30, 0.31, 0.29],
        ("django-check", "startup", 3000): [0.30, 0.30, 0.28],
        # The no-op line is judged on adjacent pairs (bench/run.py noop_pairs).
        ("uap", "noop-pair", 3000): [0.30, 0.31, 0.29],
        ("django-check", "noop-pair", 3000): [0.30, 0.30, 0.28],
        ("uap", "apply", "history-300"): [1.0, 1.1, 0.9],
        ("psql-floor", "apply", "history-300"): [0.6, 0.6, 0.6],
        ("django-check", "startup", "history-300"): [0.3, 0.3, 0.3],
        ("uap", "cpu_ms", 300): [0.25],
        ("uap", "cpu_ms", "history-300"): [0.35],
        ("admin", "summary", 100000): [120.0, 280.0],
        ("admin", "changelist", 100000): [40.0, 60.0],
        ("admin", "sort_index", 100000): [1.0],
    }
    text, verdicts = run.report(samples, [300, 3000, "history-300"])
    assert (
        "| apply 300 ≤ 1.15× (psql one session + manage.py check) "
        "| 0.700 s vs 0.400 + 0.200 s: 1.17× | MISSED |"
    ) in text
    assert "| history-like 300 ≤ 1.15× (psql one session + manage.py check) |" in text
    assert (
        "| apply 3000 ≤ 1.05× dbmate (paired median), with a chained, durable ledger "
        "| paired 0.98× (0.92–1.04); medians 0.98× | met |"
    ) in text
    assert (
        "| no-op rerun 3000 ≤ 1.05× manage.py check (paired median) "
        "| paired 1.03× (1.00–1.04); medians 1.00× | met |"
    ) in text
    # Machines differ between runs: the CPU per file is a figure of this one, not a target.
    assert (
        "Python CPU per applied file (median; a figure of this machine, not a target): "
        "0.250 ms (300), 0.350 ms (history-300)."
    ) in text
    assert (
        "| admin summary at 100,000 events: p95 ≤ 300 ms | p50 120 ms, p95 280 ms | met |" in text
    )
    assert verdicts == [False, True, True, True, True, True]


def test_history_corpus_applies_with_every_kind_of_file(tmp_path, database, uap):
    """The history-like corpus: 1-30 KB files, placeholders and CONCURRENTLY included, applies
    cleanly and reruns as a no-op."""
    out = tmp_path / "history"
    subprocess.run([sys.executable, str(BENCH / "gen_history.py"), "40", str(out)], check=True)
    files = sorted((out / "uap").iterdir())
    assert len(files) == 40 and all(1000 <= f.stat().st_size <= 33_000 for f in files)
    texts = [f.read_text() for f in files]
    assert any("-- Transaction: none" in t for t in texts)
    assert any("LANGUAGE plpgsql" in t for t in texts) and any("DO $$" in t for t in texts)
    first = uap(directory=out / "uap")
    assert first.code == 0, first.err
    placeholders = database.scalar(
        "SELECT count(*) FROM schema_migration_events WHERE reason LIKE 'no statements%%'"
    )
    assert placeholders == sum("kept for numbering" in t for t in texts) > 0
    assert "Nothing to apply" in uap(directory=out / "uap").out
