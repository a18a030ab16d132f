"""The site's URLs and error handlers, plus pages and an API path whose view fails: the 500
answers are tested through them (tests/trust/test_error_pages.py)."""

from django.db import OperationalError
from django.urls import path
from django.utils.functional import SimpleLazyObject

from crm.urls import handler404, handler500  # noqa: F401
from crm.urls import urlpatterns as site_urlpatterns


def page_with_a_bug(request):
    raise RuntimeError("a bug in a page")


def _load_user_from_a_lost_database():
    raise OperationalError("server closed the connection unexpectedly")


def page_whose_database_went_away(request):
    # What a request sees when the database is lost mid-request: the user, read lazily
    # from the session, cannot be loaded either, not even by the error page.
    request.user = SimpleLazyObject(_load_user_from_a_lost_database)
    raise OperationalError("server closed the connection unexpectedly")


urlpatterns = [
    path("page-with-a-bug/", page_with_a_bug),
    path("page-whose-database-went-away/", page_whose_database_went_away),
    path("api/v1/endpoint-with-a-bug/", page_with_a_bug),
    *site_urlpatterns,
]
