"""The auditors' guide walked in a real browser; with UAP_UPDATE_SCREENSHOT=1 it saves the
guide's screenshots into docs/img/ (docs/auditors.md shows them)."""

from __future__ import annotations

import os

import pytest
from selenium.webdriver.common.by import By

from tests.admin import data as admin_data
from tests.admin import test_browser
from tests.admin.data import PASSWORD, make_auditor
from tests.conftest import ROOT

pytestmark = pytest.mark.browser
history = admin_data.history
chromium, browser = test_browser.chromium, test_browser.browser

GUIDE_IMAGES = ROOT / "docs" / "img"


def screenshot(driver, name: str) -> None:
    """Save the page as docs/img/NAME.png when the screenshots are being refreshed."""
    if os.environ.get("UAP_UPDATE_SCREENSHOT") == "1":
        GUIDE_IMAGES.mkdir(exist_ok=True)
        driver.save_screenshot(str(GUIDE_IMAGES / f"{name}.png"))


def test_auditor_walks_the_guide(live_server, history, browser):
    """Summary with its Integrity box, a failed version, the problem events, one event."""
    make_auditor()
    browser.get(f"{live_server.url}/admin/")
    browser.find_element(By.NAME, "username").send_keys("auditor")
    browser.find_element(By.NAME, "password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()

    browser.find_element(By.LINK_TEXT, "Audit summary").click()
    history_state = browser.find_element(By.ID, "history-state").text
    assert "History verified" in history_state, history_state
    assert browser.find_element(By.ID, "evidence-download").is_displayed()
    screenshot(browser, "summary")

    browser.get(f"{live_server.url}/admin/schema_audit/schemamigration/003/change/")
    timeline = browser.find_element(By.ID, "event-timeline").text
    assert "Attempts (2)" in timeline and "42703" in timeline
    screenshot(browser, "version")

    browser.get(f"{live_server.url}/admin/schema_audit/migrationevent/?problem=any")
    rows = browser.find_elements(By.CSS_SELECTOR, "#result_list tbody tr")
    assert rows and all("failed" in row.text for row in rows), [r.text for r in rows]
    screenshot(browser, "events")

    rows[0].find_element(By.CSS_SELECTOR, "th a").click()
    body = browser.find_element(By.TAG_NAME, "body").text.lower()
    assert "who and why" in body and "integrity" in body and "42703" in body
    screenshot(browser, "event")
    assert test_browser.console_errors(browser) == []
