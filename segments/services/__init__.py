"""Writes of segments, one module per idea.

definitions: create, change, duplicate and delete segments (rules checked, audited).
uploads: a customer-id list stored as a snapshot segment.
refresh: materialise a segment's members and record its size, in the background.
preview: the builder's live count, stopped when superseded or too slow.
query_settings: the PostgreSQL settings and the time limit of the heavy segment queries.
audit: the AuditEntry of each change and the user recorded as its actor.
"""
