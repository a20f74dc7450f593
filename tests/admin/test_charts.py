"""The summary's SVG charts: drawn from the ledger, titled, labelled, numbers beside them."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from django.urls import reverse

from schema_audit.admin import charts
from tests.admin import data as admin_data
from tests.admin.data import make_auditor

history = admin_data.history  # the module's migration history (a fixture)
SUMMARY = reverse("admin:schema_audit_summary")


def test_durations_chart_marks_the_slow_threshold_and_slow_bars():
    """One bar per version, slow ones in the slow class, the threshold line at its value."""
    points = [
        charts.Duration("001", datetime(2026, 1, 1, tzinfo=UTC), 40),
        charts.Duration("002", datetime(2026, 1, 2, tzinfo=UTC), 2500),
    ]
    svg = str(charts.durations(points, slow_ms=1000))
    assert svg.count("<rect ") == 2 and svg.count("uap-bar-slow") == 1
    assert '<title id="durations-title">Duration of each applied version' in svg
    assert 'class="uap-chart-threshold"' in svg and "slow: over 1,000 ms" in svg
    assert "duration (ms)" in svg and "2026-01-01 to 2026-01-02" in svg
    assert "style=" not in svg


def test_weekly_chart_stacks_outcomes_and_has_a_legend():
    """Each non-zero outcome of a week is one segment; every outcome is in the legend."""
    weeks = [(date(2026, 1, 5), {"completed": 3, "failed": 1}), (date(2026, 1, 12), {})]
    svg = str(charts.weekly(weeks))
    assert "week of 2026-01-05: 3 completed" in svg and "week of 2026-01-05: 1 failed" in svg
    for _, label, _ in charts.OUTCOMES:
        assert f">{label}</text>" in svg


def test_empty_charts_say_why_and_hostile_labels_are_escaped():
    """No data: a titled empty chart; a version label cannot inject markup."""
    assert "no event recorded yet" in str(charts.weekly([]))
    point = charts.Duration("<script>", datetime(2026, 1, 1, tzinfo=UTC), 5)
    svg = str(charts.durations([point], 10))
    assert "<script>" not in svg and "&lt;script&gt;" in svg


@pytest.mark.parametrize(
    ("value", "ceiling"), [(0, 2), (7, 10), (11, 20), (1000, 1000), (1001, 2000)]
)
def test_axis_ceiling_is_one_two_or_five_times_a_power_of_ten(value, ceiling):
    """The y axis tops out at a round number at or above the largest value."""
    assert charts._ceiling(value) == ceiling


@pytest.mark.django_db
def test_summary_shows_two_titled_charts_with_their_numbers(client, history):
    """Both charts from the history, and the same numbers as tables for screen readers."""
    client.force_login(make_auditor())
    page = client.get(SUMMARY).content.decode()
    assert page.count('<svg class="uap-chart"') >= 2
    assert 'id="durations-title"' in page and 'id="weekly-title"' in page
    assert 'id="durations-table"' in page and 'id="weekly-table"' in page
    durations = page.split('id="durations-table"', 1)[1].split("</table>", 1)[0]
    assert "<td>003</td>" not in durations or "failed" not in durations
    assert durations.count("<tr>") >= 2
