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
    """Medians decide; a ratio just over a limit is missed, one at the limit is met."""
    run = _bench_run()
    samples = {
        ("uap", "apply", 300): [0.60, 0.61, 0.59],
        ("psql-floor", "apply", 300): [0.40, 0.40, 0.41],
        ("dbmate", "apply", 300): [0.59, 0.58, 0.70],
        ("uap", "noop", 300): [0.20, 0.21, 0.22],
        ("yoyo", "noop", 300): [0.25, 0.25, 0.25],
        ("django-check", "startup", 300): [0.18, 0.19, 0.20],
    }
    text, verdicts = run.report(samples, [300])
    assert "| apply 300 ≤ 1.5× psql floor | 1.50× (paired 1.50×) | met |" in text
    assert "| apply 300 ≤ 1.0× dbmate | 1.02× (paired 1.02×) | MISSED |" in text
    assert "| no-op rerun 300 ≤ yoyo no-op | 0.84× (paired 0.84×) | met |" in text
    assert verdicts == [True, False, True]
    assert (
        "| apply 300 | 1.50× | 1.50× | psql one session 0.400 s | 1.02× | 1.02× | dbmate" in text
    )
    assert "at least 0.590 s (1.48× the psql floor)" in text
