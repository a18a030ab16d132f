"""The site's own answers to errors: pages with the navigation for people, JSON under /api/.

403 pages need nothing here: Django renders templates/403.html (and 403_csrf.html for a
refused form) with the request, so the navigation knows the user. 404 and 500 come here so
that the API answers in its own error shape, {"detail": ...}, and so that the 500 page
gets the request's context too, which Django's own handler leaves out.
"""

import logging

from django.http import HttpResponseServerError, JsonResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.views import defaults
from django.views.decorators.csrf import requires_csrf_token

from crm.core.replica import ReplicaConflict

API_PREFIX = "/api/"

logger = logging.getLogger(__name__)


@requires_csrf_token
def page_not_found(request, exception):
    """handler404: JSON under /api/, else Django's own view with templates/404.html."""
    if request.path.startswith(API_PREFIX):
        return JsonResponse({"detail": f"There is no API endpoint at {request.path}."}, status=404)
    return defaults.page_not_found(request, exception)


@requires_csrf_token
def server_error(request):
    """handler500: JSON under /api/, else templates/500.html with the request's context."""
    if request.path.startswith(API_PREFIX):
        return JsonResponse(
            {"detail": "A server error occurred; it has been logged. Try again in a moment."},
            status=500,
        )
    try:
        body = render_to_string("500.html", request=request)
    except Exception as error:
        # The error may be the database itself, which the navigation reads (the user); the
        # page is then rendered as for an anonymous visitor. Only the error's class is
        # logged: a database error's message may quote a row, with its PII (SPEC §9).
        logger.warning("The 500 page was rendered without the request's context: %r", type(error))
        body = render_to_string("500.html")
    return HttpResponseServerError(body)


class ReplicaConflictMiddleware:
    """A page whose report or preview the read replica cancelled (ReplicaConflict) answers
    503 with templates/503.html, which says to try again, instead of a server error. The
    API's views answer it themselves (crm.core.api.exception_handler)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, ReplicaConflict):
            return None
        response = render(request, "503.html", {"detail": exception.detail}, status=503)
        response["Retry-After"] = str(exception.retry_after_seconds)
        return response
