"""report.html and the history page in a real browser: Debian's headless Chromium driven by
Selenium (scripts/setup.sh installs both). Every outside host is unresolvable for the
browser, so a page that fetched anything from a CDN would fail here.

Checked per page: no console errors, nothing loaded from anywhere but the page itself,
every chart drawn (an SVG of non-zero size with its points) and every image decoded, a click
on a column header reorders the rows (a second click reverses them), and the filter box
hides the rows that do not match. One browser for the module."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from tests.bench.results_data import BASELINE, commit_files

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
# Where a test run leaves its screenshots (for a reader who wants to see what was checked).
SHOTS = Path(os.environ.get("WHISPERBENCH_SCREENSHOTS", "/tmp/whisperbench-browser"))


@pytest.fixture(scope="module")
def browser():
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.fail("Chromium and chromedriver are needed (Debian: apt-get install -y chromium chromium-driver; "
                    "scripts/setup.sh installs them)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1400,1000", "--host-resolver-rules=MAP * ~NOTFOUND"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=opts, service=Service(CHROMEDRIVER))
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def pages(tmp_path_factory) -> dict[str, Path]:
    from whisperbench.bench.history import write_history
    from whisperbench.bench.report import write_report

    out = tmp_path_factory.mktemp("pages")
    _, report = write_report(BASELINE, out / "report")
    files = commit_files(out / "results", [{"commit": "c1"}, {"commit": "c2", "slower": 2.5},
                                           {"commit": "c3", "slower": 2.5, "drop": {"librivox": 6}}])
    _, history = write_history(files, out / "history", bootstrap=200)
    return {"report": report["html"], "history": history["html"]}


def _check_page(browser, path: Path, name: str) -> None:
    browser.get(path.as_uri())
    logs = browser.get_log("browser")
    errors = [entry for entry in logs if entry["level"] in ("SEVERE", "ERROR")]
    assert not errors, errors
    resources = browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert all(u.startswith(("data:", "file:", "blob:")) for u in resources), resources
    charts = browser.execute_script("""
        return Array.from(document.querySelectorAll('div.chart > div > div[id]')).map(function (d) {
          var svg = d.querySelector('svg.main-svg'), r = d.getBoundingClientRect();
          return {id: d.id, plotly: d.classList.contains('js-plotly-plot'), svg: !!svg, w: r.width, h: r.height,
                  marks: d.querySelectorAll('.point, .bars path, .boxes path').length};
        });""")
    assert charts, "no chart on the page"
    for c in charts:
        assert c["plotly"] and c["svg"] and c["w"] > 100 and c["h"] > 100 and c["marks"] > 0, c
    images = browser.execute_script("""
        return Array.from(document.images).map(function (i) {
          return {src: i.src.slice(0, 40), ok: i.complete && i.naturalWidth > 0}; });""")
    assert all(i["ok"] for i in images), images
    SHOTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(SHOTS / f"{name}.png"))


def _column(browser, table_id: str, header: str) -> list[str]:
    return browser.execute_script("""
        var t = document.getElementById(arguments[0]), name = arguments[1];
        var col = Array.from(t.tHead.rows[0].cells).findIndex(function (h) { return h.textContent.trim() === name; });
        return Array.from(t.tBodies[0].rows).filter(function (r) { return r.style.display !== 'none'; })
          .map(function (r) { return r.cells[col].textContent.trim(); });""", table_id, header)


def _click_header(browser, table_id: str, header: str) -> None:
    from selenium.webdriver.common.by import By

    th = browser.find_element(By.XPATH, f"//table[@id='{table_id}']/thead/tr/th[normalize-space()='{header}']")
    th.click()


def _num(text: str) -> float:
    return float(re.match(r"[-+]?[0-9.]+", text).group(0))


def test_report_page_in_chromium(browser, pages):
    _check_page(browser, pages["report"], "report")
    before = _column(browser, "configurations", "RTFx")
    assert len(set(before)) == len(before) == 3
    _click_header(browser, "configurations", "RTFx")
    up = [_num(x) for x in _column(browser, "configurations", "RTFx")]
    assert up == sorted(up)
    _click_header(browser, "configurations", "RTFx")
    down = [_num(x) for x in _column(browser, "configurations", "RTFx")]
    assert down == sorted(up, reverse=True)
    assert [_num(x) for x in before] != up or [_num(x) for x in before] != down  # the rows moved
    # Text columns sort as text; the filter keeps matching rows only.
    _click_header(browser, "cells", "dataset")
    datasets = _column(browser, "cells", "dataset")
    assert datasets == sorted(datasets) and len(set(datasets)) > 1
    from selenium.webdriver.common.by import By

    box = browser.find_element(By.CSS_SELECTOR, "input[data-table='cells']")
    box.send_keys("sonnets chunked")
    shown = _column(browser, "cells", "algorithm")
    assert shown and set(shown) == {"chunked"} and set(_column(browser, "cells", "dataset")) == {"sonnets"}


def test_history_page_in_chromium(browser, pages):
    _check_page(browser, pages["history"], "history")
    # 5 cells, one chart each; c2's slowdown ringed on the RTFx panel of each, c3's dropped
    # words on librivox's WER panel.
    rings = browser.execute_script("""
        return Array.from(document.querySelectorAll('.js-plotly-plot')).map(function (gd) {
          return gd.data.filter(function (t) { return t.name === 'regression'; }).length; });""")
    assert len(rings) == 5 and sum(rings) == 6
    assert len(browser.execute_script("return Array.from(document.querySelectorAll('h2 + ul > li'))")) == 6
    before = _column(browser, "latest-vs-best", "latest vs best")
    _click_header(browser, "latest-vs-best", "latest vs best")
    after = _column(browser, "latest-vs-best", "latest vs best")
    numbers = [_num(x) for x in after if x not in ("best", "–")]
    assert numbers == sorted(numbers) and after != before
    assert after[-1] in ("best", "–") or all(x not in ("best", "–") for x in after)  # text after numbers
