"""The chat UI takes no uploads and serves no files: against a real `sara serve`, Gradio's upload,
file and other routes the page does not use answer 404 in SARA's error shape, with or without
a key, and nothing reaches Gradio's temp folder; in a real browser, the signed-in page still
shows its chart and downloads its report while using only the routes left open."""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx
import pytest

from tests.integration.conftest import auth, sara_serve
from tests.integration.test_ui_browser import CHROMIUM, CHROMIUM_ARGS
from tests.timeouts import BROWSER_TIMEOUT_MS, HTTP_TIMEOUT_S
from ui.app import page_route

pytestmark = pytest.mark.integration

UPLOAD_BYTES = 5_000_000
# Gradio routes the page does not use, each with a method (relative to /ui).
CLOSED = [
    ("POST", "/gradio_api/upload"),
    ("POST", "/gradio_api/upload?upload_id=abc"),
    ("GET", "/gradio_api/upload_progress?upload_id=abc"),
    ("POST", "/gradio_api/process_recording"),
    ("POST", "/gradio_api/component_server"),
    ("GET", "/gradio_api/proxy=https://example.org/x"),
    ("GET", "/gradio_api/info"),
    ("POST", "/gradio_api/call/predict"),
    ("GET", "/gradio_api/runs"),
    ("POST", "/gradio_api/run-history/connect"),
    ("GET", "/gradio_api/monitoring"),
    ("GET", "/monitoring"),
    ("POST", "/gradio_api/stream/abc"),
    ("GET", "/gradio_api/assets/../upload"),
]


@pytest.fixture(scope="module")
def ui_server(published, role_keys, tmp_path_factory):
    """`sara serve` with Gradio's temp folder where the test can watch it."""
    temp = tmp_path_factory.mktemp("gradio-temp")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GRADIO_TEMP_DIR", str(temp))
        with sara_serve(published) as served:
            yield served.base, temp
    assert "Traceback" not in served.output, served.output


def _files(folder) -> list[str]:
    return sorted(str(p) for p in folder.rglob("*") if p.is_file())


def _assert_refused(response: httpx.Response) -> None:
    assert response.status_code == 404, (response.status_code, response.text[:300])
    assert response.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("headers", [{}, "staff"], ids=["no key", "with a key"])
def test_uploads_are_refused_and_write_nothing(ui_server, role_keys, headers):
    base, temp = ui_server
    headers = auth(role_keys[headers]) if headers else {}
    before = _files(temp)
    for path in ("/ui/gradio_api/upload", "/ui/gradio_api/upload?upload_id=x1", "/ui/upload"):
        response = httpx.post(
            base + path,
            files={"files": ("big.csv", b"x" * UPLOAD_BYTES, "text/csv")},
            headers=headers,
            timeout=HTTP_TIMEOUT_S,
        )
        assert 400 <= response.status_code < 500, (path, response.status_code)
    assert _files(temp) == before


def test_files_are_not_served_without_a_key_or_with_one(ui_server, published, role_keys):
    base, temp = ui_server
    # A file Gradio itself would have cached for the page, and a chart in the workspace.
    cached = temp / "0123abcd" / "sara-equity-report.md"
    cached.parent.mkdir(parents=True, exist_ok=True)
    cached.write_text("# Equity summary\n")
    viewer = auth(role_keys["viewer"])
    summary = httpx.get(f"{base}/v1/equity/summary", headers=viewer, timeout=HTTP_TIMEOUT_S)
    chart = published.reports_dir / "equity" / summary.json()["charts"][0]
    assert chart.is_file()
    for target in (cached, chart, published.audit_path):
        for prefix in ("/ui/gradio_api/file=", "/ui/gradio_api/file/", "/ui/file="):
            for headers in ({}, auth(role_keys["admin"])):
                for method in ("GET", "HEAD"):
                    response = httpx.request(method, f"{base}{prefix}{target}", headers=headers,
                                             timeout=HTTP_TIMEOUT_S)  # fmt: skip
                    assert response.status_code == 404, (method, prefix, target)


@pytest.mark.parametrize(("method", "path"), CLOSED)
def test_gradio_routes_the_page_does_not_use_are_closed(ui_server, method, path):
    assert not page_route(method, urlsplit(path).path)
    response = httpx.request(method, f"{ui_server[0]}/ui{path}", timeout=HTTP_TIMEOUT_S)
    _assert_refused(response)


def test_the_page_itself_and_its_assets_are_open(ui_server):
    base, _ = ui_server
    page = httpx.get(f"{base}/ui/", timeout=HTTP_TIMEOUT_S)
    assert page.status_code == 200 and "<html" in page.text.lower()
    for path in ("/ui/theme.css", "/ui/config"):
        assert httpx.get(base + path, timeout=HTTP_TIMEOUT_S).status_code == 200, path


@pytest.mark.browser
def test_a_signed_in_page_shows_its_chart_and_report_through_open_routes_only(ui_server, role_keys):
    """Every request the page makes is to a route left open and succeeds; the chart is inline
    and the report downloads from the page itself, not from a file route."""
    if not CHROMIUM.exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (CI installs it with apt: see .ci/run)")
    from playwright.sync_api import expect, sync_playwright

    base, temp = ui_server
    before = _files(temp)
    seen: list[tuple[str, str]] = []
    failed: list[tuple[int, str]] = []
    expect.set_options(timeout=BROWSER_TIMEOUT_MS)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, timeout=BROWSER_TIMEOUT_MS
        )
        page = browser.new_page(accept_downloads=True)
        page.set_default_timeout(BROWSER_TIMEOUT_MS)
        page.on("request", lambda r: seen.append((r.method, r.url)))
        page.on("response", lambda r: failed.append((r.status, r.url)) if r.status >= 400 else 0)
        page.goto(f"{base}/ui/")
        page.get_by_label("API key").fill(role_keys["staff"])
        page.get_by_role("button", name="Sign in").click()
        expect(page.locator("#sara-status")).to_contain_text("Signed in as test-staff")
        page.get_by_role("button", name="Summarise equity for all students").click()
        chart = page.locator("#sara-chart img")
        expect(chart).to_be_visible()
        assert chart.get_attribute("src").startswith("data:image/png;base64,")
        with page.expect_download() as download:
            page.locator("#sara-report").click()
        assert download.value.url.startswith("data:text/markdown")
        assert download.value.suggested_filename == "sara-equity-report.md"
        with open(download.value.path(), encoding="utf-8") as report:
            assert report.read().startswith("# Equity summary")
        browser.close()
    ui = [
        (m, urlsplit(u).path.removeprefix("/ui")) for m, u in seen if urlsplit(u).path[:4] == "/ui/"
    ]
    assert ui and all(page_route(m, p) for m, p in ui), [r for r in ui if not page_route(*r)]
    assert not [f for f in failed if "/ui/" in f[1]], failed
    assert _files(temp) == before
