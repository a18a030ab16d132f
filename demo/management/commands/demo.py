"""`make demo`: the whole product on this machine, until Ctrl-C.

Migrates, generates the demo shop when the database is empty, sets up its marketing,
schedules a campaign that opens a few minutes from now, prints the logins, API tokens and
a ready-to-run claim, then runs the site, a Celery worker and beat (demo.processes) until
Ctrl-C, and stops the project's own database server when it is the one in use.
"""

import urllib.error
import urllib.request
from datetime import timedelta
from io import StringIO
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connections
from django.utils import timezone

from analytics.services.campaign_facts import build_campaign_facts
from analytics.services.customer_base_facts import start_customer_base_facts
from demo import marketing
from demo.processes import DemoProcessError, Supervisor, demo_processes, port_is_free


class Command(BaseCommand):
    help = "Run the demo: data, logins, the site, a Celery worker and beat (Ctrl-C stops all)."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8000, help="the site's port (8000)")
        parser.add_argument(
            "--customers", type=int, default=2000, help="customers of a new demo (2000)"
        )
        parser.add_argument(
            "--opening-in",
            type=float,
            default=marketing.OPENING_IN_MINUTES,
            help="minutes until the campaign this start schedules opens "
            f"({marketing.OPENING_IN_MINUTES})",
        )
        parser.add_argument(
            "--prepare-only",
            action="store_true",
            help="prepare the data and print the logins, but start no process",
        )

    def handle(self, *args, port, customers, opening_in, prepare_only, **options):
        if not prepare_only and not port_is_free(port):
            raise CommandError(
                f"port {port} is in use (another demo?); stop it or run PORT=8001 make demo"
            )
        self.stdout.write("Preparing the database (migrations, static files, demo data)...")
        call_command("migrate", interactive=False, verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)
        call_command("generate_demo_data", customers=customers, if_empty=True, seed=42)
        logins = StringIO()
        call_command("create_demo_users", stdout=logins)
        summary = marketing.stage_demo_marketing(
            now=timezone.now(), opening_in=timedelta(minutes=opening_in)
        )
        self.stdout.write(summary.describe())
        # The campaign reports read them for the hours before this one (here at once: the
        # demo's data is small; beat rebuilds them every hour).
        build_campaign_facts(now=timezone.now())
        # The customer base page reads them; the worker builds them once it starts.
        start_customer_base_facts(actor=None, now=timezone.now())
        self.stdout.write("The customer base's monthly facts are built by the worker at start.")
        self.stdout.write(logins.getvalue().rstrip())
        base_url = f"http://127.0.0.1:{port}"
        example = marketing.claim_example(now=timezone.now())
        if prepare_only:
            self.stdout.write(example.curl(base_url=base_url))
            return
        self._serve(port=port, base_url=base_url, example=example)

    def _serve(self, *, port: int, base_url: str, example) -> None:
        # The children open their own connections; this process keeps none open meanwhile.
        connections.close_all()
        base_dir = Path(settings.BASE_DIR)
        log_dir = base_dir / "var" / "log"
        supervisor = Supervisor(
            demo_processes(port=port, log_dir=log_dir, base_dir=base_dir), cwd=base_dir
        )
        try:
            supervisor.start()
            supervisor.wait_for_site(f"{base_url}/login/", is_up=_answers)
            self.stdout.write(
                self.style.SUCCESS(f"\nOpsCRM demo: {base_url}/  (admin: {base_url}/admin/)")
            )
            self.stdout.write(
                f"Site, Celery worker and beat are running; their logs are in {log_dir}/.\n"
            )
            self.stdout.write(example.curl(base_url=base_url))
            self.stdout.write("\nCtrl-C stops the site, the worker, beat and the database.")
            supervisor.run_until_stopped()
        except DemoProcessError as error:
            raise CommandError(str(error)) from error
        finally:
            killed = supervisor.stop()
            if killed:
                self.stdout.write(f"Killed after {', '.join(killed)} did not stop in time.")
            if _uses_embedded_database():
                settings.EMBEDDED_DATABASE.stop()
            self.stdout.write("Demo stopped.")


def _uses_embedded_database() -> bool:
    """True when the site runs on the project's own server (not one DATABASE_URL names)."""
    return settings.DATABASES["default"]["HOST"] == str(settings.EMBEDDED_DATABASE.socket_dir)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - our own site
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False
