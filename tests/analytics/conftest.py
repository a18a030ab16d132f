"""The campaign fixtures of tests/campaigns, for the reports on those campaigns."""

from tests.campaigns.conftest import (  # noqa: F401 - fixtures, found by name
    app_push,
    fresh_cache,
    homepage,
    lenient_harassment_rules,
    make_campaign,
    make_template,
    shanghai,
)
