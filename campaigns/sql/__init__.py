"""The claim engine's SQL (claim_coupon.sql), installed by migrations on PostgreSQL."""

from pathlib import Path

CLAIM_ENGINE_SQL = Path(__file__).resolve().parent / "claim_coupon.sql"


def install_claim_engine(schema_editor) -> None:
    """(Re)create the engine's functions from the file; SQLite has no stored functions."""
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CLAIM_ENGINE_SQL.read_text(), params=None)
