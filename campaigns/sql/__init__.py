"""The claim engine's SQL: claim_coupon.sql, the PL/pgSQL functions claims run in PostgreSQL.

claim_coupon.sql is the live source, the one to edit and to read. Migrations never read it:
each migration that installs the engine reads the copy frozen beside it in
campaigns/migrations/sql/<migration number>_claim_coupon.sql, so a fresh database replays
every step with the SQL of its time and a later edit of this file cannot break it.

A change to the engine is therefore a new migration: edit claim_coupon.sql, copy it to
campaigns/migrations/sql/<next number>_claim_coupon.sql, and add the migration that executes
that copy. tests/campaigns/test_claim_engine_migrations.py fails while the live file differs
from the newest frozen copy.
"""
