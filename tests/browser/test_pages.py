"""The HTML report and the monitor page in a real headless Chromium (Debian's ``chromium``),
served over http on loopback: every image loads, every link and source resolves, every table
renders, nothing is logged to the console as an error; a full-page screenshot of each is kept
(in pytest's tmp path, and in ``$LEADML_TEST_ARTEFACTS`` when it is set)."""

from __future__ import annotations

import contextlib
import functools
import http.server
import os
import shutil
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from leadml.jobs import DEMO_RULES, monitor
from leadml.modeling import train
from tests._fast import QUICK_TREES

CHROMIUM = Path(os.environ.get("LEADML_CHROMIUM", "/usr/bin/chromium"))
APT = "apt-get install -y chromium chromium-driver"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# what the page says about itself, read in the browser after it loaded
PAGE_FACTS = """() => ({
  images: [...document.images].map(i => ({
    src: i.getAttribute('src').slice(0, 80), ok: i.complete && i.naturalWidth > 0,
    width: i.naturalWidth})),
  refs: [...document.querySelectorAll('[href], [src]')].map(e => e.getAttribute('href') ??
    e.getAttribute('src')),
  ids: [...document.querySelectorAll('[id]')].map(e => e.id),
  tables: [...document.querySelectorAll('table')].map(t => ({
    rows: t.tBodies.length ? t.tBodies[0].rows.length : 0,
    height: t.getBoundingClientRect().height,
    rowHeight: t.tBodies.length && t.tBodies[0].rows.length
      ? t.tBodies[0].rows[0].getBoundingClientRect().height : 0,
    visible: t.checkVisibility()})),
  h1: document.querySelector('h1')?.innerText ?? ''
})"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Chromium from the system packages, driven by Playwright (never a downloaded
    browser). Missing: a failure naming the packages, not a skip."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"Chromium is not installed ({CHROMIUM} is missing): the browser tests need the Debian "
            f"packages chromium and chromium-driver. Fix: {APT} (what `make browser` runs), or "
            "set LEADML_CHROMIUM to a Chromium binary."
        )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("playwright is not installed. Fix: pip install -e '.[dev]'")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()


@contextlib.contextmanager
def serve(root: Path) -> Iterator[str]:
    """A real ``http.server`` on loopback serving ``root``, in a thread."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

    handler = functools.partial(Quiet, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return int(r.status)
    except urllib.error.HTTPError as e:
        return int(e.code)


def problems(browser: Any, url: str, shot: Path) -> tuple[list[str], dict[str, Any]]:
    """Load ``url`` and list what is wrong: images that did not load, references that do not
    resolve (fetched: 200, a ``data:`` URI or an anchor of the page), tables without visible
    rows, console errors, page errors, failed or non-200 requests. Writes a full-page screenshot
    to ``shot``."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    found: list[str] = []
    page.on(
        "console", lambda m: found.append(f"console {m.type}: {m.text}") if m.type == "error" else 0
    )
    page.on("pageerror", lambda e: found.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: found.append(f"request failed: {r.url} ({r.failure})"))
    page.on(
        "response",
        lambda r: found.append(f"http {r.status}: {r.url}") if r.status >= 400 else 0,
    )
    response = page.goto(url, wait_until="load")
    if response is None or response.status != 200:
        found.append(f"the page itself: {None if response is None else response.status}")
    page.wait_for_load_state("networkidle")
    facts = page.evaluate(PAGE_FACTS)
    for img in facts["images"]:
        if not img["ok"]:
            found.append(f"image did not load: {img['src']}")
    for ref in facts["refs"]:
        if ref.startswith("data:"):
            continue
        if ref.startswith("#"):
            if ref[1:] not in facts["ids"]:
                found.append(f"anchor without a target: {ref}")
            continue
        target = urllib.parse.urljoin(url, ref)
        if urllib.parse.urlsplit(target).netloc != urllib.parse.urlsplit(url).netloc:
            found.append(f"link off the page's server: {ref}")
        elif (code := status(target)) != 200:
            found.append(f"broken link: {ref} -> {code}")
    for i, t in enumerate(facts["tables"], start=1):
        if not (t["visible"] and t["rows"] > 0 and t["height"] > 0 and t["rowHeight"] > 0):
            found.append(f"table {i} does not render rows: {t}")
    shot.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shot), full_page=True)
    page.close()
    return found, facts


def keep(shot: Path) -> None:
    """A copy of the screenshot in ``$LEADML_TEST_ARTEFACTS`` (when set), e.g. for CI to upload."""
    artefacts = os.environ.get("LEADML_TEST_ARTEFACTS")
    if artefacts:
        Path(artefacts).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(artefacts) / shot.name)


@pytest.fixture(scope="module")
def site(tmp_path_factory, crm_small) -> Path:
    """A cheap model's report (``report/report.html``) and a monitor page of its weekly scores
    (``monitor/index.html``) in one folder."""
    root = tmp_path_factory.mktemp("site")
    crm = crm_small
    res = train(
        crm.leads,
        crm.events,
        crm.conversions,
        every="14d",
        horizon="30d",
        start=crm.start,
        observed_until=crm.observed_until,
        rules=DEMO_RULES,
        lightgbm=QUICK_TREES,
        n_boot=20,
    )
    res.report.write(root / "report")
    res.model.save(root / "model")
    data = root / "data"
    data.mkdir()
    crm.leads.to_parquet(data / "leads.parquet")
    crm.events.to_parquet(data / "events.parquet")
    crm.conversions.to_parquet(data / "conversions.parquet")
    (root / "scores").mkdir()
    last = crm.observed_until - pd.Timedelta(days=7)
    for k in range(6):
        t = last - pd.Timedelta(days=7 * k)
        leads = crm.leads[crm.leads["created_at"] < t]
        s = res.model.score(
            leads, crm.events[crm.events["lead_id"].isin(leads["lead_id"])], as_of=t
        )
        s.to_parquet(root / "scores" / f"scores_{t:%Y%m%d}.parquet")
    monitor(
        {
            "scores": str(root / "scores"),
            "data": {k: str(data / f"{k}.parquet") for k in ("leads", "events", "conversions")},
            "model": str(root / "model"),
            "out": str(root / "monitor"),
            "n_boot": 20,
            "min_cohort_conversions": 5,
            "log_mlflow": False,
        }
    )
    return root


@pytest.mark.parametrize(
    ("path", "min_images", "min_tables"),
    [("report/report.html", 10, 6), ("monitor/index.html", 2, 1)],
    ids=["report", "monitor"],
)
def test_the_page_renders_completely_in_chromium(
    browser, site, tmp_path, path, min_images, min_tables
):
    shot = tmp_path / f"{path.split('/')[0]}.png"
    with serve(site) as url:
        found, facts = problems(browser, url + path, shot)
    keep(shot)
    assert not found, "\n".join(found)
    assert len(facts["images"]) >= min_images
    assert all(i["width"] >= 300 for i in facts["images"])
    assert len(facts["tables"]) >= min_tables
    assert facts["h1"]
    assert shot.stat().st_size > 10_000


def test_the_checks_catch_a_broken_page(browser, tmp_path):
    """The checker is not blind: a missing image, a dead link, a dangling anchor, an empty
    table and a script error are each reported."""
    (tmp_path / "ok.html").write_text("<p id='here'>ok</p>")
    (tmp_path / "broken.html").write_text(
        "<!doctype html><html><head><link rel='icon' href='data:,'></head><body><h1>x</h1>"
        "<img src='missing.png'><a href='gone.html'>gone</a><a href='#nowhere'>a</a>"
        "<a href='ok.html'>fine</a><table><tbody></tbody></table>"
        "<script>undefined_function()</script></body></html>"
    )
    with serve(tmp_path) as url:
        found, _ = problems(browser, url + "broken.html", tmp_path / "shots" / "broken.png")
    text = "\n".join(found)
    assert "image did not load: missing.png" in text
    assert "broken link: gone.html -> 404" in text
    assert "anchor without a target: #nowhere" in text
    assert "table 1 does not render rows" in text
    assert "undefined_function" in text
    assert "ok.html" not in text
