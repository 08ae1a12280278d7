"""report.html in a real headless Chromium: every image loads, nothing errors, offline.

Uses Debian's ``chromium`` (CI installs it) over the DevTools protocol; no browser download.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from cdp import Browser, find_chromium
from fakes import make_feeds

from relevance.eval.evaluation import evaluate
from relevance.eval.report import write_report
from relevance.io.reader import read_inputs

pytestmark = pytest.mark.slow
CHROMIUM = find_chromium()
ALL_IMAGES_LOADED = "Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)"


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if CHROMIUM is None:
        if os.environ.get("RELEVANCE_REQUIRE_BROWSER"):  # set by .ci/run: never skip in CI
            pytest.fail("RELEVANCE_REQUIRE_BROWSER is set but no chromium binary is on PATH")
        pytest.skip("no chromium binary on PATH (apt-get install chromium); CI installs it")
    b = Browser(CHROMIUM, tmp_path_factory.mktemp("chromium-profile"))
    yield b
    b.close()


def test_report_renders_with_every_image_and_no_error(browser, tmp_path, fitted_fake_model):
    model, _ = fitted_fake_model
    feeds = make_feeds(n_feeds=18, seed=7)
    data = tmp_path / "feeds.jsonl"
    data.write_text("".join(json.dumps(f) + "\n" for f in feeds), encoding="utf-8")
    frame = read_inputs([data])
    frame["half"] = (frame.index < len(frame) // 2).astype(int).astype(str)
    result = evaluate(frame, model, compare=model, slice_by="half", n_resamples=200)
    html = write_report(result, tmp_path / "report")["report.html"]

    browser.open(html)
    n_images = browser.evaluate("document.images.length")
    assert n_images == 5
    assert browser.evaluate(ALL_IMAGES_LOADED) is True
    assert browser.errors() == []
    assert all(u.startswith(("file:", "data:")) for u in browser.requested_urls())
    assert browser.evaluate("document.querySelectorAll('table').length") >= 5
    heading = browser.evaluate("document.querySelector('h1').textContent")
    assert heading == "Relevance evaluation"

    shot = browser.screenshot(tmp_path / "report.png")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
    keep = os.environ.get("RELEVANCE_SCREENSHOT_DIR")
    if keep:  # a copy for people to look at; not part of the check
        shutil.copy(shot, Path(keep) / "report-screenshot-fake.png")


def test_the_check_catches_a_broken_page(browser, tmp_path):
    """The negative control: a missing image and a console error must both be seen."""
    page = tmp_path / "broken.html"
    page.write_text(
        '<!DOCTYPE html><html><head><link rel="icon" href="data:,"></head><body>'
        '<img src="missing.png"><script>console.error("boom")</script></body></html>',
        encoding="utf-8",
    )
    browser.open(page)
    assert browser.evaluate(ALL_IMAGES_LOADED) is False
    errors = browser.errors()
    assert any("boom" in e for e in errors)
    assert any("missing.png" in e or "ERR_FILE_NOT_FOUND" in e for e in errors)
