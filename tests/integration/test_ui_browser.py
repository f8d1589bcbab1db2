"""The chat UI in a real headless Chromium against `sara serve` in its own process: sign in,
ask about a student, follow up, ask about equity, and see the card, charts, report and the tool
calls behind each answer. Screenshots go to test-artifacts/ for a human to look at."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from api.keys import KeyStore
from tests.integration.conftest import auth, sara_serve
from tests.timeouts import BROWSER_TIMEOUT_MS, HTTP_TIMEOUT_S

pytestmark = [pytest.mark.integration, pytest.mark.browser]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--disable-dev-shm-usage",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture(scope="module")
def server(published, role_keys):
    """`sara serve` on a free localhost port; yields its base URL once /ready answers."""
    with sara_serve(published) as served:
        yield served.base
    assert "Traceback" not in served.output, served.output


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (CI installs it with apt: see .ci/run)")
    from playwright.sync_api import expect, sync_playwright

    # `expect()` has its own default (5 s), apart from the page's: an answer on a busy machine
    # takes longer than that, and a wrong one fails just the same at the longer bound.
    expect.set_options(timeout=BROWSER_TIMEOUT_MS)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, timeout=BROWSER_TIMEOUT_MS
        )
        yield chromium
        chromium.close()


def test_sign_in_ask_follow_up_and_equity_in_a_real_browser(server, browser, role_keys):
    from playwright.sync_api import expect

    staff = auth(role_keys["staff"])
    high = httpx.get(f"{server}/v1/students", params={"level": "High", "limit": 1}, headers=staff,
                     timeout=HTTP_TIMEOUT_S)  # fmt: skip
    student_id = high.json()["students"][0]["student_id"]
    ARTIFACTS.mkdir(exist_ok=True)
    page = browser.new_page(viewport={"width": 1440, "height": 1000}, accept_downloads=True)
    page.set_default_timeout(BROWSER_TIMEOUT_MS)
    page.goto(f"{server}/ui/")

    key_box = page.get_by_label("API key")
    key_box.fill("not-a-key")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#sara-sign-in-error")).to_contain_text("not valid")
    expect(page.locator("#sara-chat")).to_be_hidden()
    key_box.fill(role_keys["staff"])
    key_box.press("Enter")
    expect(page.locator("#sara-status")).to_contain_text("Signed in as test-staff (staff)")
    expect(key_box).to_be_hidden()

    bot = page.locator('#sara-chat [data-testid="bot"]')
    question = page.get_by_placeholder("Ask a question and press Enter")
    question.fill(f"Why is {student_id} high risk and what would help?")
    question.press("Enter")
    expect(bot.nth(0)).to_contain_text(student_id)
    expect(bot.nth(0)).to_contain_text("High")
    card = page.locator('#sara-student [data-testid="student-card"]')
    expect(card).to_contain_text(student_id)
    expect(card).to_contain_text("High risk")
    expect(card).to_contain_text("Top risk factors")
    expect(page.locator("#sara-chart img")).to_be_visible()
    page.get_by_text("How I got this").click()
    expect(page.locator("#sara-how")).to_contain_text("explain_student")
    page.screenshot(path=ARTIFACTS / "ui-student.png", full_page=True)

    question.fill("What would help her?")
    page.get_by_role("button", name="Send", exact=True).click()
    expect(bot.nth(1)).to_contain_text(student_id)  # resolved from the conversation state
    expect(bot.nth(1)).to_contain_text("tutoring")
    expect(page.locator("#sara-how")).to_contain_text("compare_interventions")

    page.get_by_role("button", name="Summarise equity for all students").click()
    expect(bot.nth(2)).to_contain_text("Equity summary")
    expect(card).to_be_hidden()
    expect(page.locator("#sara-chart img")).to_be_visible()
    expect(page.locator("#sara-how")).to_contain_text("equity_summary")
    with page.expect_download() as download:
        page.locator("#sara-report").click()
    assert download.value.suggested_filename == "sara-equity-report.md"
    assert Path(download.value.path()).read_text().startswith("# Equity summary")
    page.screenshot(path=ARTIFACTS / "ui-equity.png", full_page=True)

    page.get_by_role("button", name="New conversation").click()
    expect(bot).to_have_count(0)
    expect(page.locator("#sara-chart img")).to_be_hidden()
    page.get_by_role("button", name="Sign out").click()
    expect(key_box).to_be_visible()
    expect(page.locator("#sara-chat")).to_be_hidden()
    page.close()


def test_a_key_revoked_mid_session_gets_a_message_not_a_stack_trace(server, browser, published):
    from playwright.sync_api import expect

    store = KeyStore(published.keys_path)
    entry, key = store.create("test-ui-revoked", "staff")
    page = _signed_in_page(browser, server, key, "test-ui-revoked", (1280, 900))
    store.revoke(entry.id)
    page.get_by_role("button", name="What model is this and how good is it?").click()
    answer = page.locator('#sara-chat [data-testid="bot"]').first
    expect(answer).to_contain_text("Could not answer: sign in with a valid API key")
    expect(answer).not_to_contain_text("Traceback")
    page.close()


@pytest.fixture(scope="module")
def other_schema(schema_workspaces):
    """`sara serve` on a workspace published with the higher-ed example spec (no spec setting
    when serving), and a staff key there."""
    settings = schema_workspaces("higher_ed")
    _, key = KeyStore(settings.keys_path).create("test-ui-staff", "staff")
    with sara_serve(settings) as served:
        yield served.base, key
    assert "Traceback" not in served.output, served.output


def test_the_ui_speaks_another_schemas_language(other_schema, browser):
    from playwright.sync_api import expect

    base, key = other_schema
    found = httpx.get(f"{base}/v1/students", params={"level": "High", "limit": 1},
                      headers=auth(key), timeout=HTTP_TIMEOUT_S)  # fmt: skip
    student = found.json()["students"][0]["student_id"]  # the district's own, e.g. 004711-BBB-2024J
    page = _signed_in_page(browser, base, key, "test-ui-staff", (1440, 1000))
    examples = page.locator("#sara-examples button")
    expect(examples.first).to_be_visible()
    shown = " ".join(examples.all_inner_texts())
    assert "Study-skills coaching".lower() in shown.lower(), shown  # its own catalogue
    assert "SES" not in shown and "tutoring" not in shown, shown
    question = page.get_by_placeholder("Ask a question and press Enter")
    question.fill(f"Why is {student} high risk and what would help?")
    question.press("Enter")
    bot = page.locator('#sara-chat [data-testid="bot"]')
    expect(bot.nth(0)).to_contain_text(student)
    expect(page.locator('#sara-student [data-testid="student-card"]')).to_contain_text(student)
    expect(bot.nth(0)).to_contain_text("Study-skills coaching")
    page.screenshot(path=ARTIFACTS / "ui-higher-ed.png", full_page=True)
    page.close()


def _signed_in_page(browser, base: str, key: str, name: str, size: tuple[int, int]):
    """A new page of the UI at ``base``, signed in with ``key`` (held by ``name``)."""
    from playwright.sync_api import expect

    page = browser.new_page(viewport={"width": size[0], "height": size[1]})
    page.set_default_timeout(BROWSER_TIMEOUT_MS)
    page.goto(f"{base}/ui/")
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#sara-status")).to_contain_text(f"Signed in as {name}")
    return page
