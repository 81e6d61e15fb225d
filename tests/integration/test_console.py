"""The duty-desk console in a real (headless) Chromium against a running worker."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from loadtest.harness.deployment import Deployment
from schemas.clock import now_ms
from streams.broker import free_port
from tests.integration.fixtures import desk_deployment
from tests.integration.test_end_to_end import add_entry, upsert

pytestmark = pytest.mark.integration

TOKEN = "tok-console"
DRIVER = shutil.which("chromedriver")
BROWSER = shutil.which("chromium")



@pytest.fixture
def browser(tmp_path: Path) -> Iterator:
    """Headless Chromium through a chromedriver this test starts and stops by its pid."""
    if not (DRIVER and BROWSER):
        pytest.skip("chromium and chromium-driver are not installed (./dev test installs "
                    "them when run as root on Debian)")
    from selenium import webdriver

    port = free_port()
    with (tmp_path / "chromedriver.log").open("ab") as log:
        # Own session: the browser it launches is in the driver's process group.
        driver_proc = subprocess.Popen([DRIVER, f"--port={port}"], stdout=log,
                                       stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/status", timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "chromedriver did not start"
                time.sleep(0.1)
        options = webdriver.ChromeOptions()
        options.binary_location = BROWSER
        for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                    f"--user-data-dir={tmp_path / 'profile'}"):
            options.add_argument(arg)
        driver = webdriver.Remote(f"http://127.0.0.1:{port}", options=options)
        try:
            yield driver
        finally:
            driver.quit()
    finally:
        # Whatever is left of the driver and the browser goes with the process group.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(driver_proc.pid, signal.SIGKILL)
        driver_proc.wait(10)


def watch_hits(browser, deployment: Deployment) -> None:
    """Open the console, enter the token and wait until its stream is connected."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(deployment.base_url + "/console")
    browser.find_element(By.ID, "token").send_keys(TOKEN)
    browser.find_element(By.ID, "connect").click()
    WebDriverWait(browser, 20).until(
        lambda b: b.find_element(By.ID, "status").text == "connected")


@pytest.fixture
def deployment(deployment_factory, tmp_path: Path) -> Deployment:
    return desk_deployment(deployment_factory, tmp_path, token=TOKEN, entry_id="W-C",
                           mac="a000000000c1")


def test_console_is_served_with_a_strict_policy(deployment: Deployment) -> None:
    for path, kind in (("/console", "text/html"), ("/console.js", "text/javascript"),
                       ("/console.css", "text/css")):
        with urllib.request.urlopen(deployment.base_url + path, timeout=5) as resp:
            headers, body = resp.headers, resp.read()
        assert headers["Content-Type"].startswith(kind)
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["X-Frame-Options"] == "DENY"
        csp = dict(d.strip().split(" ", 1) for d in headers["Content-Security-Policy"].split(";"))
        assert csp["script-src"] == "'self'" and csp["style-src"] == "'self'"
        assert csp["frame-ancestors"] == "'none'" and csp["default-src"] == "'none'"
        if kind == "text/html":  # nothing inline for the policy to allow
            assert b"<script>" not in body and b"<style>" not in body
            assert not re.search(rb"\son[a-z]+\s*=", body, re.IGNORECASE)  # no onclick=


def test_console_shows_a_hit_within_two_seconds_and_acknowledges_it(
        browser, deployment: Deployment) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    watch_hits(browser, deployment)
    observed = now_ms()
    deployment.send("sensing", {"sensor_id": "S-DESK", "ts": observed, "id_type": "mac",
                                "device_id": "a0:00:00:00:00:c1", "rssi": -40}, key="S-DESK")
    row = WebDriverWait(browser, 10, poll_frequency=0.05).until(
        lambda b: b.find_elements(By.CSS_SELECTOR, "tr.hit"))[0]
    shown_after_s = (now_ms() - observed) / 1000
    assert shown_after_s < 2.0, f"hit shown {shown_after_s:.2f}s after its observation"
    assert "p1" in row.get_attribute("class").split()
    assert [c.text for c in row.find_elements(By.TAG_NAME, "td")[:4]] == [
        "P1", "wanted-persons", "S-DESK", "W-C"]
    hit_id = row.get_attribute("data-hit-id")
    row.find_element(By.CSS_SELECTOR, "button.ack").click()
    WebDriverWait(browser, 10).until(lambda b: "acked" in row.get_attribute("class"))
    acks = deployment.read_until("audit", lambda vs: any(
        v["type"] == "ack" and v["hit_id"] == hit_id for v in vs), timeout_s=15)
    (ack,) = [v for v in acks if v["type"] == "ack" and v["hit_id"] == hit_id]
    assert (ack["subscriber"], ack["entry_id"]) == ("desk", "W-C")
    # A dropped connection (the worker goes away and comes back): the page reconnects by
    # itself and resumes where it was, so the hit of the outage shows once, and no other.
    deployment.stop_worker()
    later = now_ms()
    deployment.send("sensing", {"sensor_id": "S-DESK2", "ts": later, "id_type": "mac",
                                "device_id": "a0:00:00:00:00:c1", "rssi": -40}, key="S-DESK2")
    deployment.start_worker()
    WebDriverWait(browser, 30, poll_frequency=0.1).until(
        lambda b: len(b.find_elements(By.CSS_SELECTOR, "tr.hit")) >= 2)
    time.sleep(1.0)  # a repeat would come right behind the resumed hit
    rows = browser.find_elements(By.CSS_SELECTOR, "tr.hit")
    assert [r.find_elements(By.TAG_NAME, "td")[2].text for r in rows] == ["S-DESK2", "S-DESK"]


def test_console_records_dispositions_and_shows_the_one_in_force_and_the_scope(
        browser, deployment: Deployment) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    watch_hits(browser, deployment)
    deployment.send("sensing", {"sensor_id": "S-DISPO", "ts": now_ms(), "id_type": "mac",
                                "device_id": "a0:00:00:00:00:c1", "rssi": -40}, key="S-DISPO")
    row = WebDriverWait(browser, 10).until(
        lambda b: b.find_elements(By.CSS_SELECTOR, "tr.hit"))[0]
    hit_id = row.get_attribute("data-hit-id")
    shown = row.find_element(By.CSS_SELECTOR, ".in-force")
    assert shown.text == "none"
    Select(row.find_element(By.CSS_SELECTOR, "select.reason")).select_by_value("wrong_subject")
    row.find_element(By.CSS_SELECTOR, "button.false-positive").click()
    WebDriverWait(browser, 10).until(
        lambda b: shown.text == "false positive (wrong subject) by desk")
    row.find_element(By.CSS_SELECTOR, "button.no-action").click()
    WebDriverWait(browser, 10).until(lambda b: shown.text == "no action by desk")
    row.find_element(By.CSS_SELECTOR, "button.confirm").click()
    WebDriverWait(browser, 10).until(lambda b: shown.text == "confirmed by desk")
    assert row.get_attribute("data-outcome") == "confirmed"
    records = deployment.read_until("dispositions", lambda vs: len(vs) >= 3, timeout_s=15)
    assert [(r["hit_id"], r["outcome"], r["reason"], r["by"]) for r in records] == [
        (hit_id, "false_positive", "wrong_subject", "desk"), (hit_id, "no_action", None, "desk"),
        (hit_id, "confirmed", None, "desk")]

    # The entry's scope comes with the same lookup: W-C has none; a scoped entry's hit shows
    # where and when it applies, the places cut short in the cell and whole in its title.
    WebDriverWait(browser, 10).until(
        lambda b: row.find_element(By.CSS_SELECTOR, "td.scope").text == "every place, any time")
    add_entry(deployment, upsert("W-CS", key="a000000000c2", scope={
        "locations": ["S-X3", "S-SCOPED", "S-X1", "S-X2"], "areas": ["old-town"],
        "hours": [{"days": "mon-sun", "from": "00:00", "to": "24:00"}], "tz": "Europe/Berlin"}))
    deployment.send("sensing", {"sensor_id": "S-SCOPED", "ts": now_ms(), "id_type": "mac",
                                "device_id": "a0:00:00:00:00:c2", "rssi": -40}, key="S-SCOPED")
    scoped = WebDriverWait(browser, 10).until(lambda b: [
        r for r in b.find_elements(By.CSS_SELECTOR, "tr.hit")
        if r.get_attribute("data-hit-id") != hit_id])[0]
    assert scoped.find_elements(By.TAG_NAME, "td")[3].text == "W-CS"
    scope = scoped.find_element(By.CSS_SELECTOR, "td.scope")
    WebDriverWait(browser, 10).until(lambda b: scope.text == (
        "S-SCOPED, S-X1, S-X2 and 2 more; mon-sun 00:00-24:00 (Europe/Berlin)"))
    assert scope.get_attribute("title") == (
        "S-SCOPED, S-X1, S-X2, S-X3, area old-town; mon-sun 00:00-24:00 (Europe/Berlin)")
