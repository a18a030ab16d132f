"""Each migration that installs the claim engine keeps the SQL of its time.

Migrations read frozen copies (campaigns/migrations/sql/<number>_claim_coupon.sql), never
the live campaigns/sql/claim_coupon.sql: a fresh database then replays every step with the
engine it was written for. An edit of the live file therefore needs a new migration with a
new copy (campaigns/sql/__init__.py); these tests catch an edit shipped without one.
"""

from pathlib import Path

import pytest
from django.db import connection

import campaigns.migrations
import campaigns.sql

FROZEN_DIR = Path(campaigns.migrations.__file__).resolve().parent / "sql"
LIVE_SQL = Path(campaigns.sql.__file__).resolve().parent / "claim_coupon.sql"


def newest_frozen_copy() -> Path:
    return max(FROZEN_DIR.glob("*_claim_coupon.sql"))


def test_the_live_claim_engine_is_the_newest_frozen_copy():
    # given
    live = LIVE_SQL.read_text()
    # when
    frozen = newest_frozen_copy().read_text()
    # then
    assert live == frozen


def test_each_frozen_copy_is_read_by_the_migration_of_its_number():
    # given
    copies = sorted(FROZEN_DIR.glob("*_claim_coupon.sql"))
    migrations_dir = FROZEN_DIR.parent
    # when
    readers = {
        copy.name: [
            migration.name
            for migration in migrations_dir.glob(f"{copy.name[:4]}_*.py")
            if copy.name in migration.read_text()
        ]
        for copy in copies
    }
    # then
    assert [name for name, found in readers.items() if len(found) != 1] == []


@pytest.mark.django_db
def test_a_database_migrated_from_zero_runs_the_live_claim_engine():
    # given: the test database, built by running every migration
    live = LIVE_SQL.read_text()
    header = live.index("CREATE OR REPLACE FUNCTION campaigns_claim_coupon(")
    start = live.index("AS $$", header) + len("AS $$")
    body = live[start : live.index("$$;", start)]
    # when
    with connection.cursor() as cursor:
        cursor.execute("SELECT prosrc FROM pg_proc WHERE proname = 'campaigns_claim_coupon'")
        installed = [row[0] for row in cursor.fetchall()]
    # then
    assert installed == [body]
