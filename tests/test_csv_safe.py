"""One neutralisation for every CSV the project writes (admin exports, evidence history.csv)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from schema_audit import csv_safe


@pytest.mark.parametrize(
    "formula",
    [
        '=HYPERLINK("http://evil","x")',
        "@SUM(A1)",
        "+1+2",
        "-2+3+cmd|' /C calc'!A0",
        "--2+3+cmd|' /C calc'!A0",
        "  =1+1",
        " @SUM(A1)",
        "\t=1+1",
        "\r=1+1",
        "\n-1",
        "＝1+1",
        "\u00a0=1+1",
        "\u3000=1+1",
        "\u000b=1+1",
        "\u000c@SUM(A1)",
        "\u200b=1+1",
        "\u2028+1",
        "|calc",
        " |calc",
        "\u00a0\u3000｜calc",
        "\u0007text",
    ],
)
def test_formula_cells_are_quoted(formula):
    """Whatever a spreadsheet could evaluate starts with a quote, leading blanks included."""
    assert csv_safe.cell(formula) == "'" + formula


@pytest.mark.parametrize(
    "plain", ["completed", "ALTER TABLE x", "a=b", "a|b", "003", "", " ", "\u00a0text"]
)
def test_plain_cells_are_unchanged(plain):
    assert csv_safe.cell(plain) == plain


def test_values_that_are_not_text():
    moment = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    assert csv_safe.cell(None) == ""
    assert csv_safe.cell(moment) == "2026-01-02T03:04:05+00:00"
    assert csv_safe.cell(-5) == -5 and csv_safe.cell(True) is True
