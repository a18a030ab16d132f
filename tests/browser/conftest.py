"""Headless Chromium (Debian's) driven by Playwright's sync API against live_server."""

import os

import pytest
from django.db import connections
from playwright.sync_api import sync_playwright

# Playwright's sync API keeps an asyncio loop running in this thread; Django refuses ORM
# calls from a thread with a running loop unless told the calls are deliberate.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture
def browser():
    """A browser for one test; request it after the fixtures that write test data.

    While Playwright runs, asgiref sees a running event loop and hands out a different
    database connection object than the test's, one without pytest-django's state. So
    Playwright starts only after the data is written and stops before the database is
    cleaned up (a session-scoped browser broke the serialized rollback of later tests).
    """
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        yield chromium
        chromium.close()
        # ORM calls the test made while Playwright ran got connections of their own (see
        # above); closed here, in that same context, or the test database cannot be dropped
        # at the end of the session ("being accessed by other users").
        connections.close_all()


class PageProblems(list):
    """Console errors, uncaught exceptions, failed requests and 4xx/5xx responses."""


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    page = context.new_page()
    problems = PageProblems()
    page.on(
        "console",
        lambda message: (
            problems.append(f"console: {message.text}") if message.type == "error" else None
        ),
    )
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    # A request the browser cancels because the page moved on (net::ERR_ABORTED, e.g. the
    # favicon of a page left at once) is no failure: a missing resource still shows as its
    # 4xx response below.
    page.on(
        "requestfailed",
        lambda request: (
            problems.append(f"failed: {request.url} {request.failure}")
            if request.failure != "net::ERR_ABORTED"
            else None
        ),
    )
    page.on(
        "response",
        lambda response: (
            problems.append(f"HTTP {response.status}: {response.url}")
            if response.status >= 400
            else None
        ),
    )
    page.problems = problems
    yield page
    context.close()
