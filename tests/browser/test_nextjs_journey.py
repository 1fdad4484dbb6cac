"""The real journey: a person signs in on the example Next.js app and clicks, in Debian's Chromium.

Nothing here mints a cookie or sends a request itself: NextAuth's own sign-in form sets the session
cookie, the page's client (``examples/nextjs/lib/eventgate.js``) sends the events, through the app's
rewrite or straight to eventgate's origin, and eventgate's relay delivers them to the Inngest
stand-in, where the test looks for them. Timers are stopped (Playwright's clock) where the test must
know what the client sends when: batches then go by their size, or when the page goes away.
"""

import json
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import (
    BrowserContext,
    BrowserType,
    Locator,
    Page,
    Response,
    expect,
    sync_playwright,
)
from playwright.sync_api import Error as PlaywrightError

from tests.browser.stack import ROOT, Stack, running_stack, serving_page

CHROMIUM = "/usr/bin/chromium"
"""Debian's package: Playwright's own browser builds are a download, which cannot work here."""
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = ROOT / "var" / "browser"
TIMEOUT_MS = 20_000
"""For each action and expectation: generous, as two busy cores can make a page slow."""
DEMO_USER = {"id": "demo-user-1", "name": "Demo User", "email": "demo@example.com"}
REWRITE, CROSS_ORIGIN = "Through the rewrite", "Cross-origin"
SIGNED_OUT_ALERT = "You are signed out: these events were not recorded. Sign in to record events."


@pytest.fixture(scope="module")
def chromium() -> Iterator[BrowserType]:
    """Playwright's Chromium driver for Debian's Chromium, once a first start showed that it can start.

    Otherwise every test is skipped, saying why, before anything is built or started.
    """
    if not Path(CHROMIUM).is_file():
        pytest.skip(f"no Chromium at {CHROMIUM}: `make test` installs Debian's chromium package")
    with sync_playwright() as playwright:
        try:
            playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS, timeout=60_000).close()
        except PlaywrightError as error:
            pytest.skip(f"Chromium ({CHROMIUM}) cannot start here: {why_it_did_not_start(error)}")
        yield playwright.chromium


def why_it_did_not_start(error: PlaywrightError) -> str:
    """Playwright's first line, what the browser itself wrote to stderr, and how it exited."""
    lines = error.message.splitlines()
    said = [line.split("[err]", 1)[1].strip() for line in lines if "[err]" in line]
    exited = [line.strip(" -") for line in lines if "process did exit" in line]
    return "; ".join([lines[0], *said[-5:], *exited[-1:]])


@pytest.fixture(scope="module")
def stack(chromium: BrowserType, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("journey")) as stack:
        yield stack


@pytest.fixture
def browser(chromium: BrowserType, tmp_path: Path) -> Iterator[BrowserContext]:
    """Chromium with a fresh profile and Playwright's clock installed (time flows until paused)."""
    context = chromium.launch_persistent_context(
        tmp_path / "profile",
        executable_path=CHROMIUM,
        headless=True,
        args=FLAGS,
        viewport={"width": 1024, "height": 460},
        timeout=60_000,
    )
    context.set_default_timeout(TIMEOUT_MS)
    expect.set_options(timeout=TIMEOUT_MS)
    context.clock.install()
    yield context
    context.close()


def signed_in_page(browser: BrowserContext, stack: Stack) -> Page:
    """As a person signs in: from the app's page, through NextAuth's own form, as the demo user."""
    page = browser.new_page()
    page.goto(stack.app_url)
    page.get_by_role("link", name="Sign in").click()
    page.get_by_label("Username (demo: demo)").fill("demo")
    page.get_by_label("Password (demo: demo-password)").fill("demo-password")
    page.get_by_role("button", name="Sign in with the demo account").click()
    expect(page.get_by_role("main")).to_contain_text("Signed in as Demo User (demo@example.com)")
    return page


def button(page: Page, way: str, name: str) -> Locator:
    return page.get_by_role("region", name=way).get_by_role("button", name=name)


def status(page: Page) -> Locator:
    return page.get_by_role("status")


def answers_batch_post(url: str) -> Callable[[Response], bool]:
    """Whether an answer is to a POST of a batch to ``url`` (not to a CORS preflight, say)."""
    return lambda answer: answer.url == url and answer.request.method == "POST"


def answers_to(page: Page, url: str) -> list[Response]:
    """The answers the page will get to its batch POSTs to ``url``, as they come."""
    answers: list[Response] = []
    page.on("response", lambda answer: answers.append(answer) if answers_batch_post(url)(answer) else None)
    return answers


@contextmanager
def timers_stopped(page: Page) -> Iterator[None]:
    """The page's timers stand still in the block, so no batch goes for its age.

    The clock stops a second ahead, as if a second passed at once: its time flows meanwhile, and
    it cannot go back.
    """
    page.clock.pause_at(page.evaluate("Date.now()") / 1000 + 1)
    yield
    page.clock.resume()


def delivered_since(stack: Stack, seen: int, count: int, timeout: float = 15) -> list[dict[str, Any]]:
    """The events the stand-in received after the first ``seen``, once ``count`` have arrived."""
    deadline = time.monotonic() + timeout
    while len(events := stack.delivered()[seen:]) < count:
        assert time.monotonic() < deadline, (
            f"{len(events)} of {count} events arrived in {timeout} s: {events}"
        )
        time.sleep(0.05)
    return events


def test_a_signed_in_user_records_events_through_the_rewrite_and_cross_origin(
    browser: BrowserContext, stack: Stack
) -> None:
    page = signed_in_page(browser, stack)
    seen = len(stack.delivered())

    with page.expect_response(answers_batch_post(f"{stack.app_url}/events/api/batch")) as through_rewrite:
        button(page, REWRITE, "Like").click()
    with page.expect_response(answers_batch_post(f"{stack.eventgate_url}/api/batch")) as cross_origin:
        button(page, CROSS_ORIGIN, "Add to cart").click()
    expect(status(page)).to_have_text("Clicked 2 · sent 2")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=ARTIFACTS / "nextjs-signed-in.png")

    direct = cross_origin.value
    assert through_rewrite.value.status == direct.status == 200
    assert direct.request.header_value("origin") == stack.app_url
    assert direct.headers["access-control-allow-origin"] == stack.app_url
    assert direct.headers["access-control-allow-credentials"] == "true"
    events = delivered_since(stack, seen, 2)
    assert [event["data"] for event in events] == [
        {"user": DEMO_USER, "payload": {"button": "Like", "via": "rewrite"}},
        {"user": DEMO_USER, "payload": {"button": "Add to cart", "via": "cross-origin"}},
    ]
    assert [event["id"] for event in events] == [*through_rewrite.value.json()["ids"], *direct.json()["ids"]]


def test_twenty_fast_clicks_arrive_in_batches_each_event_exactly_once(
    browser: BrowserContext, stack: Stack
) -> None:
    page = signed_in_page(browser, stack)
    seen = len(stack.delivered())
    answers = answers_to(page, f"{stack.app_url}/events/api/batch")

    with timers_stopped(page):
        like = button(page, REWRITE, "Like")
        for _ in range(20):
            like.click()
        expect(status(page)).to_have_text("Clicked 20 · sent 20")

    batches = [json.loads(answer.request.post_data or "")["events"] for answer in answers]
    assert [len(batch) for batch in batches] == [10, 10], "two batches of the client's maxBatch"
    assert len({event["idempotencyKey"] for batch in batches for event in batch}) == 20
    ids = [event_id for answer in answers for event_id in answer.json()["ids"]]
    events = delivered_since(stack, seen, 20)
    assert Counter(event["id"] for event in events) == Counter(set(ids)), "each event exactly once"
    assert all(event["data"]["user"] == DEMO_USER for event in events)


@pytest.mark.parametrize("way", [REWRITE, CROSS_ORIGIN])
def test_events_queued_when_the_user_leaves_are_delivered_by_the_pagehide_flush(
    browser: BrowserContext, stack: Stack, way: str
) -> None:
    page = signed_in_page(browser, stack)
    seen = len(stack.delivered())

    with timers_stopped(page):
        for name in ("Like", "Add to cart", "Share"):
            button(page, way, name).click()
        expect(status(page)).to_have_text("Clicked 3 · sent 0")
        page.goto("about:blank")

    events = delivered_since(stack, seen, 3)
    assert sorted(event["data"]["payload"]["button"] for event in events) == ["Add to cart", "Like", "Share"]
    assert all(event["data"]["user"] == DEMO_USER for event in events)


def test_a_signed_out_user_sees_the_401_handling_and_nothing_is_published(
    browser: BrowserContext, stack: Stack
) -> None:
    page = signed_in_page(browser, stack)
    page.get_by_role("link", name="Sign out").click()
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("main")).to_contain_text("Not signed in")
    warnings: list[str] = []
    page.on("console", lambda message: warnings.append(message.text) if message.type == "warning" else None)
    accepted, seen = stack.accepted_events(), len(stack.delivered())

    with page.expect_response(answers_batch_post(f"{stack.app_url}/events/api/batch")) as through_rewrite:
        button(page, REWRITE, "Like").click()
    with page.expect_response(answers_batch_post(f"{stack.eventgate_url}/api/batch")) as cross_origin:
        button(page, CROSS_ORIGIN, "Like").click()

    assert through_rewrite.value.status == cross_origin.value.status == 401
    expect(page.get_by_role("main").get_by_role("alert")).to_have_text(SIGNED_OUT_ALERT)
    expect(status(page)).to_have_text("Clicked 2 · sent 0")
    assert (
        len([warning for warning in warnings if warning.startswith("eventgate: 401, dropped 1 event(s)")])
        == 2
    )
    assert stack.accepted_events() == accepted
    assert stack.delivered()[seen:] == []


def test_another_site_cannot_post_with_the_users_cookie(browser: BrowserContext, stack: Stack) -> None:
    page = signed_in_page(browser, stack)
    endpoint = f"{stack.eventgate_url}/api/batch"
    forged = json.dumps({"events": [{"name": "evil/forged"}]})
    accepted, seen = stack.accepted_events(), len(stack.delivered())
    # A text/plain form sends name=value: these make {"events": [{"name": "evil/forged", "data": "="}]}.
    html = f"""<!doctype html><title>Win a prize</title>
<form method="post" action="{endpoint}" enctype="text/plain">
  <input type="hidden" name='{{"events": [{{"name": "evil/forged", "data": "' value='"}}]}}'>
  <button>Claim your prize</button>
</form>
<p id="fetch">fetching</p>
<script>
  fetch("{endpoint}", {{method: "POST", credentials: "include", headers: {{"Content-Type": "application/json"}},
                        body: '{forged}'}})
    .then((answer) => {{ document.getElementById("fetch").textContent = "answered " + answer.status }},
          (error) => {{ document.getElementById("fetch").textContent = "refused: " + error.message }})
</script>"""

    with serving_page(html) as other_site:
        page.goto(other_site)
        expect(page.locator("#fetch")).to_have_text("refused: Failed to fetch")
        with page.expect_response(answers_batch_post(endpoint)) as form_post:
            page.get_by_role("button", name="Claim your prize").click()

    refused = form_post.value
    assert "next-auth.session-token=" in (refused.request.header_value("cookie") or ""), (
        "the cookie went along"
    )
    assert refused.request.header_value("origin") == other_site
    assert refused.status == 403
    assert refused.json()["type"] == "urn:eventgate:problem:cross-site-request"
    assert stack.accepted_events() == accepted
    assert stack.delivered()[seen:] == []
