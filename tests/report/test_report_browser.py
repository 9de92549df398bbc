"""report.html opened in headless Chromium (Debian's ``chromium``, driven by Playwright): the
charts and the table render, the table sorts and filters, and the page makes no network request.

Every request the page makes is intercepted: the report file itself is served, anything else is
recorded and aborted, so a regression that loads a script or a font fails here instead of
reaching the network. A screenshot is kept as a test artefact (``out/test-artifacts/`` or
``$PACSAUDIT_TEST_ARTIFACTS``). docs/images/report.png is made the same way from the lab
demo's report by ``tools/report_screenshot.py``.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
import report_fixtures as fx
from playwright.sync_api import BrowserContext, Page, Route

from pacsaudit.report.build import write_report

ROOT = Path(__file__).resolve().parents[2]


def load_tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "report_screenshot", ROOT / "tools" / "report_screenshot.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ARTIFACTS = Path(os.environ.get("PACSAUDIT_TEST_ARTIFACTS", ROOT / "out" / "test-artifacts"))
CHARTS = ["exposure-classes", "severity", "products", "countries", "phi-attributes", "ports"]


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrowserContext]:
    tool = load_tool()
    if not tool.chromium_path().exists():
        pytest.fail("Debian's chromium is needed for this test: `make test` installs it")
    with tool.browser_context(tmp_path_factory.mktemp("chromium-profile")) as context:
        yield context


def open_report(context: BrowserContext, path: Path) -> tuple[Page, list[str]]:
    """Open ``path``; return the page and every URL it asked for besides itself."""
    own = path.resolve().as_uri()
    other: list[str] = []

    def guard(route: Route) -> None:
        if route.request.url == own:
            route.continue_()
        else:
            other.append(route.request.url)
            route.abort()

    page = context.new_page()
    page.route("**/*", guard)
    page.on("request", lambda r: None if r.url == own else other.append(r.url))
    page.on("websocket", lambda ws: other.append(ws.url))
    page.goto(own, wait_until="load")
    return page, other


def numbers(page: Page, column: int) -> list[float]:
    values: list[str] = page.eval_on_selector_all(
        "#findings-table tbody tr",
        f"rows => rows.map(r => r.cells[{column}].dataset.value)",
    )
    return [float(v) for v in values]


def test_report_renders_sorts_and_stays_offline(browser: BrowserContext, tmp_path: Path) -> None:
    out = tmp_path / "report"
    write_report([fx.write_new(tmp_path)], out, baseline=[fx.write_old(tmp_path)])
    page, requests = open_report(browser, out / "report.html")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=ARTIFACTS / "report.png", full_page=True)

    for chart in CHARTS:
        bars = page.locator(f'figure[data-chart="{chart}"] svg rect.bar')
        assert bars.count() > 0, chart
        box = bars.first.bounding_box()
        assert box is not None
        assert box["width"] > 1
        assert box["height"] > 1
    assert page.locator('figure[data-chart="exposure-classes"] rect.bar').count() == 4
    assert page.locator('figure[data-chart="countries"] text.label').all_text_contents() == [
        "US", "DE", "JP", "local",
    ]  # fmt: skip

    rows = page.locator("#findings-table tbody tr")
    assert rows.count() == 14  # 13 services and the honeypot, which is shown with its flag
    assert page.locator("#findings-table .badge.flag").all_text_contents() == ["likely-honeypot"]
    tile = page.locator('[data-tile="patients"] b').text_content()
    assert tile == "≥47"
    assert page.locator('#diff tr[data-change="still-exposed"]').count() == 2

    patients = page.locator("#findings-table th", has_text="patients")
    patients.click()
    ascending = numbers(page, 8)
    assert ascending == sorted(ascending)
    patients.click()
    descending = numbers(page, 8)
    assert descending == sorted(descending, reverse=True)
    assert descending[0] == 1000
    assert patients.get_attribute("aria-sort") == "descending"

    page.fill("#filter", "133.11")
    assert page.locator("#findings-table tbody tr:not([hidden])").count() == 1
    assert requests == []
    assert (ARTIFACTS / "report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page.close()


def test_public_report_renders_without_findings_or_requests(
    browser: BrowserContext, tmp_path: Path
) -> None:
    out = tmp_path / "public"
    write_report([fx.write_new(tmp_path)], out, public=True, k=5)
    page, requests = open_report(browser, out / "report.html")
    assert page.locator("#findings-table").count() == 0
    assert page.locator('figure[data-chart="countries"] text.label').all_text_contents() == [
        "US", "DE",
    ]  # fmt: skip
    assert page.locator("[data-suppression]").count() == 1
    page.screenshot(path=ARTIFACTS / "report-public.png", full_page=True)
    assert requests == []
    page.close()


def test_the_request_guard_sees_what_a_page_would_fetch(
    browser: BrowserContext, tmp_path: Path
) -> None:
    """Without this, a guard that misses requests would let the tests above pass vacuously."""
    page_file = tmp_path / "fetching.html"
    page_file.write_text(
        '<!DOCTYPE html><img src="http://report-asset.invalid/chart.png">'
        '<script src="https://report-asset.invalid/lib.js"></script>',
        "utf-8",
    )
    page, requests = open_report(browser, page_file)
    page.close()
    assert sorted(set(requests)) == [
        "http://report-asset.invalid/chart.png",
        "https://report-asset.invalid/lib.js",
    ]
