"""The development SECRET_KEY: generated once per checkout and kept in a file under var/.

Production sets SECRET_KEY in the environment (the settings refuse to start without it
while DEBUG is off). Development (DEBUG=true, as `make` sets it) needs no environment: the
first process makes a random key and every later one reads it, so sessions and signed
values survive restarts, and no key is ever written in the code.

This module is imported by the settings, before Django is set up: standard library only.
"""

import contextlib
import os
import secrets
import tempfile
from pathlib import Path

# 50 URL-safe characters of randomness or more is what Django's check_deploy asks for.
KEY_BYTES = 48


def development_secret_key(path: Path) -> str:
    """The key stored at `path`, created (readable by its owner only) when there is none.

    Safe when several processes start at once (the demo's site, worker and beat): the key
    is written to a temporary file and linked into place, so a reader never sees a partial
    key and only the first writer's key is kept.
    """
    if key := _read(path):
        return key
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(descriptor, "w") as key_file:
            key_file.write(secrets.token_urlsafe(KEY_BYTES) + "\n")
        # Another process may have been first: then its key is the one.
        with contextlib.suppress(FileExistsError):
            os.link(temporary, path)
    finally:
        os.unlink(temporary)
    return _read(path)


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        return ""
