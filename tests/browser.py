"""Headless Debian Chromium driven by Selenium for the clerk app's browser tests.

Chromium and its driver come from Debian (``scripts/install --test``); nothing is downloaded.
Screenshots of each main page are written to :data:`SCREENSHOTS` (``artifacts/screenshots``,
kept by CI as artifacts; override with ``FANGPIN_SCREENSHOTS``).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from sync.embedded import PROJECT_ROOT

SCREENSHOTS = Path(os.environ.get("FANGPIN_SCREENSHOTS", PROJECT_ROOT / "artifacts" / "screenshots"))
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


# Every headless Chromium the tests start (Selenium here, Playwright in field_app.py)
CHROMIUM_ARGS = (
    "--no-sandbox",  # CI runs as root
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",  # this machine's network is closed: no calls home
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
)


def start() -> tuple[WebDriver, str]:
    profile = tempfile.mkdtemp(prefix="fangpin-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        *CHROMIUM_ARGS,
        "--window-size=1366,768",  # the township office's laptop
        "--lang=zh-CN",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    return driver, profile


def shot(driver: WebDriver, name: str) -> Path:
    """A full-page screenshot of what the clerk sees now."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    height = driver.execute_script("return document.documentElement.scrollHeight")
    width, view = driver.execute_script("return [window.outerWidth, window.outerHeight]")
    driver.set_window_size(1366, max(768, min(int(height) + 40, 6000)))
    path = SCREENSHOTS / f"{name}.png"
    driver.save_screenshot(str(path))
    driver.set_window_size(width, view)
    return path


def in_view(driver: WebDriver, css: str) -> bool:
    """The element is on screen as the page opened (a message above the fold is a message missed)."""
    return driver.execute_script(
        "const r = document.querySelector(arguments[0]).getBoundingClientRect();"
        "return r.top >= 0 && r.bottom <= window.innerHeight && r.height > 0;",
        css,
    )


def wait(driver: WebDriver, condition, timeout: float = 20.0):
    """Poll ``condition``; an element replaced by the page loading meanwhile is polled again."""
    return WebDriverWait(
        driver, timeout, poll_frequency=0.05, ignored_exceptions=(StaleElementReferenceException,)
    ).until(condition)


def text_of(driver: WebDriver, css: str) -> str:
    return driver.find_element(By.CSS_SELECTOR, css).text
