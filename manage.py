#!/usr/bin/env python
"""Django's command-line utility for OpsCRM."""

import os
import sys


def main() -> None:
    """Run administrative tasks."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings")
    from django.core.management import execute_from_command_line

    from crm.core.databases import DatabaseConfigurationError

    try:
        execute_from_command_line(sys.argv)
    except DatabaseConfigurationError as error:
        # The database cannot work as configured: one clear line, not a traceback.
        sys.exit(f"OpsCRM: {error}")


if __name__ == "__main__":
    main()
