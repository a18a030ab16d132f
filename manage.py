#!/usr/bin/env python
"""Django's command-line utility for OpsCRM."""

import os
import sys


def main() -> None:
    """Run administrative tasks."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings")
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    try:
        execute_from_command_line(sys.argv)
    except ImproperlyConfigured as error:
        # The configuration cannot work (the database, a missing SECRET_KEY): one clear
        # line saying what to do, not a traceback.
        sys.exit(f"OpsCRM: {error}")


if __name__ == "__main__":
    main()
