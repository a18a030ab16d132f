"""Shared infrastructure for every app; holds no business rules."""
