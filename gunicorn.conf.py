"""The production web server's configuration (gunicorn).

gunicorn reads ./gunicorn.conf.py from the directory it starts in, so `gunicorn` run from
the project root (as `make demo` does) uses this file; from elsewhere, name it:
`gunicorn -c /path/to/opscrm/gunicorn.conf.py`. Command-line flags override it.
Settings: https://docs.gunicorn.org/en/stable/settings.html

What it is for: the logs keep no personal data (SPEC §9). Searching customers by phone or
e-mail puts them in the query string, so the access log writes the path without it, and
no referer (the previous page's address, query string included); both logs go through the
site's redaction filter (crm/core/log_redaction.py) as well.
"""

import sys
from pathlib import Path

from gunicorn.glogging import Logger

# The project's packages, whichever directory gunicorn was started from.
sys.path.insert(0, str(Path(__file__).resolve().parent))

# After the path above: the import needs it.
from crm.core.log_redaction import RedactPersonalData

wsgi_app = "crm.wsgi:application"

# A worker silent this long is killed: above the time limits of the queries a person waits
# for (SEGMENT_STATEMENT_TIMEOUT_SECONDS 30, REPORT_TIME_LIMIT_SECONDS 20), so that a slow
# one answers its clear refusal rather than a dropped connection (gunicorn's default is 30).
timeout = 60

# Both logs to standard output/error, for the process manager to collect.
accesslog = "-"
errorlog = "-"
# Apache's combined format without the query string (%(U)s is the path alone; the request
# line %(r)s and %(q)s would carry it) and without the referer (%(f)s); plus the time taken.
access_log_format = '%(h)s %(l)s %(u)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(L)s "%(a)s"'


class RedactingLogger(Logger):
    """gunicorn's logger whose handlers redact personal data, as the site's do: an error
    line such as "Error handling request /customers/?q=…" quotes the query string."""

    def setup(self, cfg) -> None:
        super().setup(cfg)
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                if not any(isinstance(f, RedactPersonalData) for f in handler.filters):
                    handler.addFilter(RedactPersonalData())


logger_class = RedactingLogger
