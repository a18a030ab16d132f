"""The API's JSON parser: DRF's, refusing bodies nested too deeply before decoding them.

It is the default parser of the whole API (REST_FRAMEWORK["DEFAULT_PARSER_CLASSES"] in
crm/settings.py): any endpoint that decodes JSON is exposed to a body of 1,000 nested
arrays, which made Python's decoder raise RecursionError (a 500). See segments.json_text.
"""

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser, get_encoding
from rest_framework.utils import json

from segments.json_text import MAX_JSON_DEPTH, json_depth_exceeds


class DepthLimitedJSONParser(JSONParser):
    """JSONParser that answers 400 (ParseError) for JSON nested over MAX_JSON_DEPTH levels."""

    def parse(self, stream, media_type=None, parser_context=None):
        encoding = get_encoding(parser_context or {})
        try:
            text = stream.read().decode(encoding)
        except ValueError as error:
            raise ParseError(f"JSON parse error - {error}") from None
        if json_depth_exceeds(text):
            raise ParseError(f"The JSON is nested more than {MAX_JSON_DEPTH} levels deep.")
        try:
            parse_constant = json.strict_constant if self.strict else None
            return json.loads(text, parse_constant=parse_constant)
        except ValueError as error:
            raise ParseError(f"JSON parse error - {error}") from None
