"""The approve flow in a real browser, and an auditor who is refused the button."""

from __future__ import annotations

import pytest
from django.db import connection
from django.urls import reverse
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tests.admin import data as admin_data
from tests.admin.data import make_auditor
from tests.admin.test_browser import browser, chromium, log_in  # noqa: F401 (fixtures)

pytestmark = pytest.mark.browser
history = admin_data.history  # the module's migration history (a fixture)


def test_approver_approves_and_auditor_is_refused_the_button(
    live_server,
    history,
    settings,
    browser,  # noqa: F811
):
    """bob approves 008 through the confirmation page; the auditor sees no button and a 403."""
    settings.UAP_REQUIRE_APPROVAL = True
    make_auditor("bob", "--approver")
    make_auditor()
    admin_data.make_author()
    summary = f"{live_server.url}{reverse('admin:schema_audit_summary')}"

    log_in(browser, live_server.url, "bob")
    browser.get(summary)
    assert "not approved" in browser.find_element(By.ID, "approval-008").text
    browser.find_element(By.ID, "approve-008").click()
    assert browser.find_element(By.ID, "approval-checksum").text
    browser.find_element(By.NAME, "comment").send_keys("reviewed with the DBA")
    browser.find_element(By.ID, "confirm-approve").click()
    WebDriverWait(browser, 20).until(lambda d: d.current_url == summary)
    assert "approved by bob" in browser.find_element(By.ID, "approval-008").text
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT actor, reason FROM schema_migration_events WHERE action = 'approve'"
        )
        assert cursor.fetchall() == [("bob", "reviewed with the DBA")]

    log_in(browser, live_server.url, "auditor")
    browser.get(summary)
    assert "approved by bob" in browser.find_element(By.ID, "approval-008").text
    assert browser.find_elements(By.ID, "approve-008") == []
    assert browser.find_elements(By.ID, "revoke-008") == []
    browser.get(f"{live_server.url}{reverse('admin:schema_audit_approve', args=['008'])}")
    assert "403" in browser.page_source or "Forbidden" in browser.page_source
