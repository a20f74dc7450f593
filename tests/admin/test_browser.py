"""The audit admin in a real browser: Debian's headless Chromium against a live server."""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tests.admin import data as admin_data
from tests.admin.data import PASSWORD, make_auditor
from tests.conftest import ROOT

pytestmark = pytest.mark.browser
history = admin_data.history  # the module's migration history (a fixture)

CHROMIUM = Path("/usr/bin/chromium")
DRIVER = Path("/usr/bin/chromedriver")
SCREENSHOT = ROOT / "docs" / "admin-changelist.png"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1600,1000",
]


def install_chromium() -> str:
    """Install Debian's chromium and chromium-driver; '' on success, else why not."""
    if not shutil.which("apt-get"):
        return "apt-get is not available"
    if os.geteuid() != 0:
        return "apt-get needs root"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    lock = ["-o", "DPkg::Lock::Timeout=300"]
    for command in (
        ["apt-get", *lock, "update", "-q"],
        ["apt-get", *lock, "install", "-y", "-q", "chromium", "chromium-driver"],
    ):
        try:
            done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"{' '.join(command)}: {exc}"
        if done.returncode != 0:
            return f"{' '.join(command)} exited {done.returncode}: {done.stderr[-500:]}"
    return ""


def log_in(driver, url: str, username: str) -> None:
    driver.delete_all_cookies()
    driver.get(f"{url}/admin/login/")
    driver.find_element(By.NAME, "username").send_keys(username)
    driver.find_element(By.NAME, "password").send_keys(PASSWORD)
    driver.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    # The next page load must carry the new session cookie: wait for the login to finish.
    WebDriverWait(driver, 20).until(lambda d: "/login/" not in d.current_url)


@pytest.fixture(scope="session")
def chromium():
    """Paths of Debian's chromium and chromedriver, installed with apt-get when missing."""
    if not (CHROMIUM.exists() and DRIVER.exists()):
        reason = install_chromium()
        if reason or not (CHROMIUM.exists() and DRIVER.exists()):
            pytest.skip(f"chromium and chromium-driver could not be installed: {reason}")
    return CHROMIUM, DRIVER


@pytest.fixture
def browser(chromium, tmp_path):
    """A fresh headless Chromium profile that downloads into tmp_path/downloads."""
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    options = webdriver.ChromeOptions()
    options.binary_location = str(chromium[0])
    for flag in [*FLAGS, f"--user-data-dir={tmp_path / 'profile'}"]:
        options.add_argument(flag)
    options.add_experimental_option(
        "prefs",
        {"download.default_directory": str(downloads), "download.prompt_for_download": False},
    )
    # The console log shows Content-Security-Policy violations and script errors.
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(str(chromium[1])))
    driver.execute_cdp_cmd(
        "Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)}
    )
    driver.implicitly_wait(5)
    driver.downloads = downloads
    yield driver
    driver.quit()


def console_errors(driver) -> list[dict]:
    """Console errors (CSP violations, script errors); the absent favicon is not one."""
    return [
        entry
        for entry in driver.get_log("browser")
        if entry["level"] == "SEVERE" and "favicon.ico" not in entry["message"]
    ]


def shown_versions(driver) -> list[str]:
    return [cell.text for cell in driver.find_elements(By.CSS_SELECTOR, "#result_list tbody th")]


def wait_for_file(folder: Path, pattern: str, seconds: float = 20) -> Path:
    # Chromium may create the final name empty while it still writes NAME.crdownload beside it.
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        busy = any(p.name.endswith(".crdownload") for p in folder.iterdir())
        done = [p for p in folder.glob(pattern) if not p.name.endswith(".crdownload")]
        if done and not busy and done[0].stat().st_size > 0:
            return done[0]
        time.sleep(0.2)
    raise AssertionError(f"no {pattern} downloaded into {folder}: {list(folder.iterdir())}")


def test_auditor_filters_opens_a_version_and_downloads_csv(live_server, history, browser):
    """Log in, apply the slow and problem filters, open a version, export the filtered CSV."""
    make_auditor()
    browser.get(f"{live_server.url}/admin/")
    browser.find_element(By.NAME, "username").send_keys("auditor")
    browser.find_element(By.NAME, "password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    # The demo's index box: its link on one line, not one letter per line in a narrow column.
    summary = browser.find_element(By.LINK_TEXT, "Audit summary")
    assert summary.size["width"] > 60 and summary.size["height"] < 25, summary.size
    browser.find_element(By.LINK_TEXT, "Schema migrations").click()
    assert shown_versions(browser) == history.versions_newest_first

    browser.save_screenshot(str(Path(browser.downloads).parent / "changelist.png"))
    if os.environ.get("UAP_UPDATE_SCREENSHOT") == "1":
        SCREENSHOT.parent.mkdir(exist_ok=True)
        browser.save_screenshot(str(SCREENSHOT))

    browser.find_element(By.PARTIAL_LINK_TEXT, "slow (over 1,000 ms)").click()
    assert shown_versions(browser) == ["1000", "002"]
    assert "slow=yes" in browser.current_url
    browser.find_element(By.PARTIAL_LINK_TEXT, "1,000 ms or less").click()
    browser.find_element(By.PARTIAL_LINK_TEXT, "any problem").click()
    assert shown_versions(browser) == ["007", "005", "004", "003"]
    assert "problem=any" in browser.current_url and "slow=no" in browser.current_url

    browser.find_element(By.ID, "export-csv").click()
    exported = wait_for_file(browser.downloads, "schema_migrations_*.csv")
    with exported.open(encoding="utf-8") as handle:
        assert [row["version"] for row in csv.DictReader(handle)] == ["007", "005", "004", "003"]

    browser.find_element(By.LINK_TEXT, "003").click()
    timeline = browser.find_element(By.ID, "event-timeline").text
    assert "Attempts (2)" in timeline and "42703" in timeline
    assert 'column "x" does not exist' in browser.find_element(By.TAG_NAME, "body").text
    assert (Path(browser.downloads).parent / "changelist.png").read_bytes()[:8] == (
        b"\x89PNG\r\n\x1a\n"
    )
    assert console_errors(browser) == []


def test_pages_carry_a_csp_and_the_admin_runs_under_it(live_server, history, browser):
    """script-src 'self': the admin's scripts (filters, date hierarchy) run, nothing is blocked."""
    make_auditor()
    log_in(browser, live_server.url, "auditor")
    for page in (
        "schema_audit/schemamigration/",
        "schema_audit/migrationevent/",
        "schema_audit/schemamigration/summary/",
        "schema_audit/schemamigration/003/change/",
        "schema_audit/schemamigration/fleet/",
    ):
        browser.get(f"{live_server.url}/admin/{page}")
        assert browser.find_element(By.ID, "content")
    assert console_errors(browser) == []


def test_summary_charts_are_drawn_and_styled_under_the_strict_policy(
    live_server, history, browser
):
    """No 'unsafe-inline': the charts' colours come from the static stylesheet, no violation."""
    make_auditor()
    log_in(browser, live_server.url, "auditor")
    browser.get(f"{live_server.url}/admin/schema_audit/schemamigration/summary/")
    for chart in ("durations", "weekly"):
        svg = browser.find_element(By.ID, chart)
        assert svg.find_element(By.TAG_NAME, "title").get_attribute("textContent")
    bar = browser.find_element(By.CSS_SELECTOR, "#durations rect.uap-bar-completed")
    assert bar.value_of_css_property("fill") == "rgb(46, 125, 50)"
    badge = browser.find_element(By.CSS_SELECTOR, ".uap-badge")
    assert badge.value_of_css_property("border-radius") == "10px"
    assert console_errors(browser) == []
