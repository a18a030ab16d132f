"""JSON text from clients, decoded only when its nesting is within a bound.

Python's JSON decoder recurses once per level of nesting: a body of 1,000 nested objects
ended in a RecursionError (a 500) before any validation could refuse it. The nesting is
therefore measured on the raw text first, without recursion, by a scan over its strings
and brackets. A rule tree is at most 16 levels deep (SPEC §2), two JSON levels each
(`{"all": [...]}`), so MAX_JSON_DEPTH leaves room for any valid request while the decoder
stays far from the interpreter's recursion limit (1,000).
"""

import json
import re
from typing import Any

MAX_JSON_DEPTH = 64
RULE_TREE_HINT = "a rule tree holds at most 16 levels"

# A JSON string (escapes included) or a bracket; brackets inside strings are not nesting.
_STRING_OR_BRACKET = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]')


class NestedTooDeepError(ValueError):
    """JSON text nested more than the allowed depth."""


def json_depth_exceeds(text: str, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether `text` opens more than `limit` nested arrays or objects at some point.

    Linear in the length of the text and without recursion. Text that is not valid JSON
    is measured as far as it goes (the decoder then says what is wrong with it).
    """
    depth = 0
    for match in _STRING_OR_BRACKET.finditer(text):
        found = match.group()
        if found in "[{":
            depth += 1
            if depth > limit:
                return True
        elif found in "]}":
            depth = max(depth - 1, 0)
    return False


def load_json_text(text: str, *, limit: int = MAX_JSON_DEPTH) -> Any:
    """json.loads(text), refusing first text nested more than `limit` levels deep.

    Raises NestedTooDeepError, or ValueError (json.JSONDecodeError) for text that is not JSON.
    """
    if json_depth_exceeds(text, limit):
        raise NestedTooDeepError(f"nested more than {limit} levels deep")
    return json.loads(text)
