"""Headless Chromium for the page tests (Debian's chromium + chromium-driver, driven by selenium
through /usr/bin/chromedriver, never a downloaded driver). In CI (CI=true) a missing browser
FAILS the test; elsewhere it skips and says what to install."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMEDRIVER = Path("/usr/bin/chromedriver")
INSTALL = "apt-get install -y chromium chromium-driver (and pip install selenium)"
WAIT_S = 30


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"the browser test must run in CI: {reason}; {INSTALL}")
    pytest.skip(f"{reason}: {INSTALL}")


@contextmanager
def chromium(width: int = 1400, height: int = 900) -> Iterator[Any]:
    """Headless Chromium through the system chromedriver (selenium never fetches a driver)."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        _unavailable("selenium is not installed")
    browser = shutil.which("chromium")
    if browser is None or not CHROMEDRIVER.exists():
        _unavailable("chromium or /usr/bin/chromedriver is not installed")
    options = webdriver.ChromeOptions()
    options.binary_location = str(browser)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # CSP reports land there
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 f"--window-size={width},{height}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def wait(driver: Any, condition: Any) -> Any:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, WAIT_S).until(condition)


def ask_and_follow(driver: Any, url: str, question: str, citation: str) -> list[Any]:
    """Ask on the page, click `citation` in the answer; the highlighted source lines."""
    from selenium.webdriver.common.by import By

    driver.get(url)
    driver.find_element(By.ID, "question").send_keys(question)
    driver.find_element(By.ID, "ask").click()
    link = wait(driver, lambda d: next(
        (a for a in d.find_elements(By.CSS_SELECTOR, ".answer a.cite") if a.text == citation),
        False))
    link.click()
    return list(wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#source-lines .hl")))


def map_rectangles(driver: Any, count: int) -> list[Any]:
    from selenium.webdriver.common.by import By

    return list(wait(driver, lambda d: (lambda r: len(r) == count and r)(
        d.find_elements(By.CSS_SELECTOR, "#treemap .tm-rect"))))
