"""The fleet page in a real browser: every database of a rollout, one unreachable."""

from __future__ import annotations

import os

import pytest
from django.conf import settings
from django.test import override_settings
from selenium.webdriver.common.by import By

from tests.admin import data as admin_data
from tests.admin import test_browser
from tests.admin.data import PASSWORD, make_auditor
from tests.conftest import ROOT, register_alias, run_command, unregister_alias

pytestmark = pytest.mark.browser
history = admin_data.history
chromium, browser = test_browser.chromium, test_browser.browser

SCREENSHOT = ROOT / "docs" / "admin-fleet.png"
REGIONS = ("eu_west", "eu_central", "us_east", "ap_south")


@pytest.fixture
def regions(fleet, history):
    """Four regional aliases on the admin's migrations: two up to date, one with a failed
    file, one pending; plus a fifth whose server is down."""
    folder = history.directory
    dbs = fleet(len(REGIONS))
    for alias, db in zip(REGIONS, dbs, strict=True):
        register_alias(alias, {**settings.DATABASES[db.alias]})
    down = {**settings.DATABASES["default"], "ENGINE": "django.db.backends.postgresql"}
    register_alias("ap_east", {**down, "HOST": "/nonexistent/uap", "NAME": "x"})
    with dbs[2].connect() as conn:
        # 005 fails in this region: a policy there refuses its table.
        conn.execute(
            "CREATE FUNCTION refuse_t005() RETURNS event_trigger LANGUAGE plpgsql AS $$ BEGIN "
            "IF current_query() LIKE '%t005%' THEN RAISE EXCEPTION 'region policy: no t005'; "
            "END IF; END $$; CREATE EVENT TRIGGER refuse_t005 ON ddl_command_start "
            "EXECUTE FUNCTION refuse_t005()"
        )
    applied = run_command(
        "--database", ",".join(REGIONS[:3]), "--canary", "eu_west", "--on-error", "continue",
        "--parallel", "2", "--dir", str(folder),
    )  # fmt: skip
    assert applied.code == 1, applied.err
    run_command("--database", REGIONS[3], "--target", "003", "--dir", str(folder))
    with override_settings(UAP_FLEET=["default", *REGIONS, "ap_east"]):
        yield folder
    for alias in (*REGIONS, "ap_east"):
        unregister_alias(alias)


def test_fleet_page_in_a_browser(live_server, history, regions, browser):
    """An auditor opens the fleet page: each database's state, one unreachable, links work."""
    make_auditor()
    browser.get(f"{live_server.url}/admin/")
    browser.find_element(By.NAME, "username").send_keys("auditor")
    browser.find_element(By.NAME, "password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    browser.find_element(By.LINK_TEXT, "Schema migrations").click()
    browser.find_element(By.ID, "fleet-link").click()
    rows = {
        row.find_element(By.TAG_NAME, "th").text: row.text
        for row in browser.find_elements(By.CSS_SELECTOR, "#fleet tbody tr")
    }
    assert set(rows) == {"default", *REGIONS, "ap_east"}
    assert "ok" in rows["eu_west"] and "1000" in rows["eu_west"]
    assert "failed" in rows["us_east"] and "unreachable" in rows["ap_east"]
    assert "pending" in rows["ap_south"]
    if os.environ.get("UAP_UPDATE_SCREENSHOT") == "1":
        browser.save_screenshot(str(SCREENSHOT))
    browser.find_element(By.CSS_SELECTOR, "#fleet-default a[href*='db=default']").click()
    assert "Select schema migration to view" in browser.find_element(By.TAG_NAME, "body").text
