"""Compile functions of the catalogue's fields, grouped by family; each module registers its
fields with segments.catalogue.register_field when imported."""
