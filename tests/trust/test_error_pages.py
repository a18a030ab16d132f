"""403, 404 and 500 are the site's own pages: its navigation, a sentence saying why, a way
on (home when logged in, the login page otherwise), never a debug page. Under /api/ they
are JSON in the API's error shape. The favicon is served, so no page asks for a missing one.
Django runs these tests with DEBUG off, as production does."""

from pathlib import Path

import pytest
from django.contrib.staticfiles import finders
from django.test import Client

pytestmark = pytest.mark.django_db

NAVIGATION = '<a href="/" class="brand">OpsCRM</a>'
MARKETER_NAVIGATION = '<a href="/customers/"'


def page(response) -> str:
    return response.content.decode()


def test_a_missing_page_for_an_anonymous_visitor_says_so_and_offers_the_login(client):
    # when
    response = client.get("/no-such-page/")

    # then
    body = page(response)
    assert response.status_code == 404
    assert response["Content-Type"] == "text/html; charset=utf-8"
    assert "<title>Page not found · OpsCRM</title>" in body
    assert NAVIGATION in body
    assert "There is no page at <code>/no-such-page/</code>." in body
    assert '<a href="/login/?next=/no-such-page/" role="button">Log in</a>' in body
    assert MARKETER_NAVIGATION not in body


def test_a_missing_customer_for_a_marketer_keeps_the_navigation_and_leads_home(client, marketer):
    # given
    client.force_login(marketer)

    # when
    response = client.get("/customers/NOBODY/")

    # then
    body = page(response)
    assert response.status_code == 404
    assert MARKETER_NAVIGATION in body
    assert "There is no page at <code>/customers/NOBODY/</code>." in body
    assert '<a href="/" role="button">Go to the home page</a>' in body
    assert "Log in</a>" not in body


def test_a_refused_page_names_the_user_and_the_reason_and_leads_home(client, support):
    # given a support user, whose role does not open the customer pages
    client.force_login(support)

    # when
    response = client.get("/customers/")

    # then
    body = page(response)
    assert response.status_code == 403
    assert "<title>Not allowed · OpsCRM</title>" in body
    assert NAVIGATION in body
    assert (
        "You are logged in as <strong>support</strong>, and your role does not open this "
        "page. An administrator can give you another role."
    ) in body
    assert '<a href="/" role="button">Go to the home page</a>' in body


def test_a_form_refused_for_its_expired_page_says_to_reload_and_offers_the_login():
    # given an anonymous visitor whose login form lost its CSRF token (an old tab)
    client = Client(enforce_csrf_checks=True)

    # when
    response = client.post("/login/", {"username": "mia", "password": "pw"})

    # then
    body = page(response)
    assert response.status_code == 403
    assert NAVIGATION in body
    assert (
        "The form was refused because the page it was sent from had expired. "
        "Reload the page and send it again."
    ) in body
    assert '<a href="/login/" role="button">Log in</a>' in body


@pytest.mark.urls("tests.trust.failing_urls")
def test_a_page_with_a_bug_answers_the_sites_500_page_without_details(client, marketer):
    # given a real server's behaviour: the error becomes a response, not an exception
    client.raise_request_exception = False
    anonymous = Client(raise_request_exception=False)
    client.force_login(marketer)

    # when
    logged_in_response = client.get("/page-with-a-bug/")
    anonymous_response = anonymous.get("/page-with-a-bug/")

    # then both get the site's page, with their navigation, and nothing of the error
    for response in (logged_in_response, anonymous_response):
        body = page(response)
        assert response.status_code == 500
        assert "<title>Something went wrong · OpsCRM</title>" in body
        assert NAVIGATION in body
        assert (
            "Something went wrong on our side and this page could not be shown. The error "
            "has been logged; try again in a moment."
        ) in body
        assert "a bug in a page" not in body
        assert "Traceback" not in body
        assert len(response.content) < 10_000
    assert MARKETER_NAVIGATION in page(logged_in_response)
    assert '<a href="/" role="button">Go to the home page</a>' in page(logged_in_response)
    assert '<a href="/login/?next=/page-with-a-bug/" role="button">Log in</a>' in page(
        anonymous_response
    )


@pytest.mark.urls("tests.trust.failing_urls")
def test_the_500_page_is_still_answered_when_the_user_cannot_be_loaded(client, marketer):
    # given a logged-in marketer whose request loses the database
    client.raise_request_exception = False
    client.force_login(marketer)

    # when
    response = client.get("/page-whose-database-went-away/")

    # then the page is rendered as for an anonymous visitor, not an empty 500
    body = page(response)
    assert response.status_code == 500
    assert NAVIGATION in body
    assert "Something went wrong on our side and this page could not be shown." in body
    assert '<a href="/login/" role="button">Log in</a>' in body
    assert "server closed the connection" not in body


@pytest.mark.urls("tests.trust.failing_urls")
def test_the_api_answers_its_own_json_for_a_missing_path_and_for_a_bug(integration_api):
    # given
    integration_api.raise_request_exception = False

    # when
    missing = integration_api.get("/api/v1/no-such-resource/")
    failing = integration_api.get("/api/v1/endpoint-with-a-bug/")

    # then
    assert missing.status_code == 404
    assert missing["Content-Type"] == "application/json"
    assert missing.json() == {"detail": "There is no API endpoint at /api/v1/no-such-resource/."}
    assert failing.status_code == 500
    assert failing["Content-Type"] == "application/json"
    assert failing.json() == {
        "detail": "A server error occurred; it has been logged. Try again in a moment."
    }


def test_the_favicon_is_served_and_linked_by_the_pages_and_the_admin(client, admin_user):
    # given
    client.force_login(admin_user)

    # when
    fallback = client.get("/favicon.ico")
    home = client.get("/")
    admin_index = client.get("/admin/")

    # then the pages and the admin link the icon, and /favicon.ico leads to it
    icon = '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">'
    assert icon in page(home)
    assert icon in page(admin_index)
    assert fallback.status_code == 302
    assert fallback["Location"] == "/static/favicon.ico"
    # (the test client serves no static files; the browser test loads them)
    assert Path(finders.find("favicon.ico")).read_bytes()[:4] == b"\x00\x00\x01\x00"
    assert Path(finders.find("favicon.svg")).read_text().startswith("<svg ")
