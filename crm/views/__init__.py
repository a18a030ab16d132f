"""Marketer pages of the customer-data domain."""
