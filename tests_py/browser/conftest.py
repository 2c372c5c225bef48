"""The browser tier: Debian's Chromium driven by Selenium, over a small closed exchange.

Chromium and its driver are installed with apt when they are missing (the tier is
skipped, saying why, where apt cannot). Screenshots are kept in test-artifacts/browser
(EOD_TEST_ARTIFACTS overrides the folder) for CI to keep.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from eod.db import with_database
from tests_py.close_fixtures import running_exchange
from tests_py.conftest import PROJECT_DIR, create_database, drop_database

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
# headless, and nothing that reaches outside the machine (updates, sync, QUIC probes)
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
)


def pytest_collection_modifyitems(items):
    for item in items:
        if Path(str(item.fspath)).parent == Path(__file__).parent:
            item.add_marker(pytest.mark.browser)


def _install_chromium() -> str | None:
    """None when Chromium and chromedriver are there (installing them if need be), else why not."""
    if CHROMIUM.exists() and CHROMEDRIVER.exists():
        return None
    apt = shutil.which("apt-get")
    if not apt or os.geteuid() != 0:
        return "Chromium is not installed and apt-get is not available as root to install it"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in ([apt, "update", "-q"], [apt, "install", "-y", "-q", "chromium", "chromium-driver"]):
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:]
            return f"installing Chromium with apt failed: {' '.join(cmd)}: {tail}"
    return None if CHROMIUM.exists() and CHROMEDRIVER.exists() else "apt installed no chromium"


@pytest.fixture(scope="session")
def chromium() -> Path:
    reason = _install_chromium()
    if reason:
        pytest.skip(reason)
    return CHROMIUM


@pytest.fixture(scope="session")
def artifacts() -> Path:
    folder = Path(os.environ.get("EOD_TEST_ARTIFACTS") or PROJECT_DIR / "test-artifacts")
    path = folder / "browser"
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextlib.contextmanager
def chromium_driver(binary: Path, profile: Path):
    """A headless Chromium with a fresh profile, through Debian's chromedriver (given
    explicitly, so Selenium never looks for a driver or a browser to download)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(binary)
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.add_argument("--window-size=1600,1000")
    driver = webdriver.Chrome(options=options, service=Service(executable_path=str(CHROMEDRIVER)))
    driver.set_page_load_timeout(120)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def browser(chromium, tmp_path):
    with chromium_driver(chromium, tmp_path / "chromium-profile") as driver:
        yield driver


def run_close(day) -> None:
    """Close D in this process through the Prefect flow; the day must close cleanly."""
    from flows.service import run_close as close

    report = close(day)
    assert report.exit_code == 0, report.lines()


@pytest.fixture(scope="session")
def closed_exchange(pg_server_url, template_db, nats_url):
    """A small exchange, two business days closed, shared by the tier's tests."""
    name = create_database(pg_server_url, template_db)
    db_url = with_database(pg_server_url, name)
    tmp = Path(tempfile.mkdtemp(prefix="eod-browser-"))
    with (
        pytest.MonkeyPatch.context() as monkeypatch,
        running_exchange(db_url, nats_url, monkeypatch, tmp, days=2) as exchange,
    ):
        for day in exchange.dates:
            run_close(day)
        yield exchange, dict(os.environ)
    with contextlib.suppress(Exception):
        drop_database(pg_server_url, name)
    shutil.rmtree(tmp, ignore_errors=True)
