"""Serializers of the customer-data API; they check shape only (house rule 9).

The bulk ingest items are validated by crm.services.imports, exactly as CSV rows are, so
an item with a bad value is refused on its own (by index) rather than failing the request.
"""

from rest_framework import serializers

from crm.services.imports.runs import MAX_BULK_ITEMS


class BulkIngestInputSerializer(serializers.Serializer):
    items = serializers.ListField(
        child=serializers.JSONField(),
        max_length=MAX_BULK_ITEMS,
        help_text=(
            f"Up to {MAX_BULK_ITEMS:,} objects keyed by the CSV column names of the kind. "
            "Keys an item leaves out are not changed."
        ),
        error_messages={
            "max_length": "At most {max_length} items per request; send the rest in more requests."
        },
    )


class BulkIngestErrorSerializer(serializers.Serializer):
    index = serializers.IntegerField(source="position", help_text="Position in `items`, from 0.")
    reason = serializers.CharField()


class BulkIngestResultSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    unchanged = serializers.IntegerField(help_text="Already stored with the same values.")
    refused = serializers.IntegerField()
    errors = BulkIngestErrorSerializer(many=True)
