"""The Campaigns II scenario end to end through the public API (issue "Campaigns II"):
a gold member who prefers dried fruit and buys at weekends, reachable by app push and the
WeChat official account, gets a free dried-cherry gift box and a "spend 28, get 4 off"
dried-fruit coupon by a scheduled push on Friday at 12:00 through app_push and wechat_oa,
with a 10% holdout; redeems the 4 off on a 30.00 order after a 27.00 one is refused.

The clock is travelled (time-machine) so the beat and the worker run at Friday 12:00 as
they would; everything else goes through the API an integration or a marketer uses. The
expected audience and holdout are computed here from the fixture and SPEC §4's hash."""

from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine

from campaigns import tasks
from campaigns.models import Campaign
from crm.models import Channel, Customer
from tests.campaigns.pushing import held_out

SHANGHAI = ZoneInfo("Asia/Shanghai")
THURSDAY = datetime(2026, 12, 3, 10, 0, tzinfo=SHANGHAI)
FRIDAY_NOON = datetime(2026, 12, 4, 12, 0, tzinfo=SHANGHAI)
WEEKEND_DAYS = [
    "2026-11-07T11:00:00+08:00",
    "2026-11-14T15:00:00+08:00",
    "2026-11-22T10:00:00+08:00",
]
WEEKDAY = "2026-11-11T11:00:00+08:00"

# customer_id: (tier, category bought, when, consent): 14 who fit, 5 who do not.
PEOPLE = {
    **{
        f"GOLD-{n:02d}": ("gold", "dried fruit", "weekend", consent)
        for n, consent in enumerate(
            [["app_push", "wechat_oa"]] * 8 + [["app_push"]] * 3 + [["wechat_oa"]] * 3
        )
    },
    "SILVER-01": ("silver", "dried fruit", "weekend", ["app_push"]),
    "GOLD-NUTS": ("gold", "nuts", "weekend", ["app_push"]),
    "GOLD-WEEKDAY": ("gold", "dried fruit", "weekday", ["app_push"]),
    "GOLD-QUIET": ("gold", "dried fruit", "weekend", []),
    "GOLD-SMS": ("gold", "dried fruit", "weekend", ["sms"]),
}
SEGMENT_RULES = {
    "all": [
        {"field": "member_tier", "op": "eq", "value": "gold"},
        {"field": "preferred_category", "op": "eq", "value": "dried fruit"},
        {"field": "weekend_buyer", "op": "eq", "value": True},
        {"any": [
            {"field": "consent", "op": "has", "value": "app_push"},
            {"field": "consent", "op": "has", "value": "wechat_oa"},
        ]},
    ]
}  # fmt: skip


@pytest.fixture
def channels(db):
    for code, kind in [("app_push", "off_site"), ("wechat_oa", "off_site"), ("sms", "off_site")]:
        Channel.objects.create(code=code, name=code, kind=kind)


def ingest(integration_api):
    customers = [
        {
            "customer_id": customer_id,
            "name": customer_id,
            "city": "Shanghai",
            "is_member": True,
            "member_tier": tier,
            "consent": consent,
        }
        for customer_id, (tier, _, _, consent) in PEOPLE.items()
    ]
    orders = [
        {
            "order_id": f"{customer_id}-{n}",
            "customer_id": customer_id,
            "placed_at": placed_at,
            "amount": "60.00",
        }
        for customer_id, (_, _, when, _) in PEOPLE.items()
        for n, placed_at in enumerate(WEEKEND_DAYS if when == "weekend" else [WEEKDAY] * 3)
    ]
    order_items = [
        {
            "order_id": order["order_id"],
            "sku": f"{PEOPLE[order['customer_id']][1]}-1",
            "category": PEOPLE[order["customer_id"]][1],
            "quantity": 2,
            "unit_price": "30.00",
        }
        for order in orders
    ]
    for path, items in [("customers", customers), ("orders", orders), ("order-items", order_items)]:
        answer = integration_api.post(f"/api/v1/{path}/bulk/", {"items": items}, format="json")
        assert answer.status_code == 200
        assert answer.json()["refused"] == 0, answer.json()["errors"][:3]


@pytest.mark.django_db(transaction=True)
def test_a_gold_dried_fruit_member_gets_both_coupons_by_friday_push_and_redeems_the_four_off(
    channels, integration_api, marketer_api, settings
):
    settings.TIME_ZONE = "Asia/Shanghai"
    with time_machine.travel(THURSDAY, tick=True):
        # given the shop's customers and orders, ingested through the bulk API
        ingest(integration_api)

        # and the marketer's segment, two coupon templates and the campaign, through the API
        segment = marketer_api.post(
            "/api/v1/segments/",
            {"name": "Gold dried-fruit weekend buyers", "rules": SEGMENT_RULES},
            format="json",
        )
        assert segment.status_code == 201, segment.json()
        fits = {cid for cid, (t, c, w, consent) in PEOPLE.items()
                if t == "gold" and c == "dried fruit" and w == "weekend"
                and {"app_push", "wechat_oa"} & set(consent)}  # fmt: skip
        preview = marketer_api.post(
            "/api/v1/segments/preview/", {"rules": SEGMENT_RULES}, format="json"
        )
        assert preview.json()["count"] == len(fits) == 14
        for template in [
            {"code": "cherry-gift-box", "name": "Free dried-cherry gift box", "kind": "gift",
             "face_value": "39.00", "threshold": "0", "skus": ["cherry-box"], "valid_days": 7},
            {"code": "dried-fruit-4-off-28", "name": "Spend 28, get 4 off", "kind": "cash",
             "face_value": "4.00", "threshold": "28.00", "categories": ["dried fruit"],
             "valid_days": 7},
        ]:  # fmt: skip
            answer = marketer_api.post("/api/v1/coupon-templates/", template, format="json")
            assert answer.status_code == 201, answer.json()
        campaign = marketer_api.post(
            "/api/v1/campaigns/",
            {
                "code": "gold-dried-fruit-friday",
                "name": "Gold dried fruit Friday",
                "business_line": "snacks",
                "campaign_type": "targeted",
                "segment": segment.json()["id"],
                "claim_starts_at": FRIDAY_NOON.isoformat(),
                "claim_ends_at": "2026-12-18T12:00:00+08:00",
                "channels": ["app_push", "wechat_oa"],
                "trigger": "scheduled_push",
                "daily_limit_per_customer": 1,
                "limit_per_customer": 1,
                "stock": 100,
                "budget": "2000.00",
                "holdout_share": "0.100",
                "resources": [
                    {"template": "cherry-gift-box", "quantity": 1},
                    {"template": "dried-fruit-4-off-28", "quantity": 1},
                ],
            },
            format="json",
        )
        assert campaign.status_code == 201, campaign.json()
        code = campaign.json()["code"]
        scheduled = marketer_api.post(f"/api/v1/campaigns/{code}/schedule/")
        assert scheduled.json()["status"] == "scheduled"
        assert marketer_api.get(f"/api/v1/campaigns/{code}/deliveries/").json()["count"] == 0

    # when Friday 12:00 comes: the beat starts the campaign, the worker pushes it
    with time_machine.travel(FRIDAY_NOON, tick=False):
        tasks.advance_campaigns_task.delay()

    with time_machine.travel(FRIDAY_NOON.replace(hour=13), tick=True):
        # then the push covered the 14, granted the treated and skipped the held out
        # (the hash takes the internal keys, which the API never shows)
        pk = dict(Customer.objects.values_list("customer_id", "pk"))
        campaign_pk = Campaign.objects.get(code=code).pk
        treated = {cid for cid in fits if not held_out(campaign_pk, pk[cid], Decimal("0.1"))}
        (run,) = marketer_api.get(f"/api/v1/campaigns/{code}/deliveries/").json()["results"]
        app_push_reached = {cid for cid in treated if "app_push" in PEOPLE[cid][3]}
        wechat_reached = {cid for cid in treated if "wechat_oa" in PEOPLE[cid][3]}
        assert run["state"] == "done"
        assert (run["total"], run["processed"], run["granted"]) == (14, 14, len(treated))
        assert run["skipped"] == ({"holdout": 14 - len(treated)} if len(treated) < 14 else {})
        assert run["messages"] == {
            "app_push": {"sent": len(app_push_reached), "failed": 0,
                         "suppressed": len(treated - app_push_reached), "deferred": 0},
            "wechat_oa": {"sent": len(wechat_reached), "failed": 0,
                          "suppressed": len(treated - wechat_reached), "deferred": 0},
        }  # fmt: skip
        assert run["started_at"] == "2026-12-04T12:00:00+08:00"

        # and the member (treated, both channels) holds both coupons and one message per channel
        member = sorted(cid for cid in treated if len(PEOPLE[cid][3]) == 2)[0]
        coupons = integration_api.get(f"/api/v1/customers/{member}/coupons/").json()["results"]
        assert sorted((c["template"], c["status"], c["channel"], c["valid_from"], c["valid_until"])
                      for c in coupons) == [
            ("cherry-gift-box", "unused", "app_push", "2026-12-04T12:00:00+08:00",
             "2026-12-11T12:00:00+08:00"),
            ("dried-fruit-4-off-28", "unused", "app_push", "2026-12-04T12:00:00+08:00",
             "2026-12-11T12:00:00+08:00"),
        ]  # fmt: skip
        messages = integration_api.get(f"/api/v1/customers/{member}/messages/").json()["results"]
        assert sorted((m["campaign"], m["channel"], m["status"]) for m in messages) == [
            (code, "app_push", "sent"),
            (code, "wechat_oa", "sent"),
        ]
        # and a held-out or outside customer holds nothing of it
        for outsider in [*(fits - treated), "SILVER-01", "GOLD-QUIET", "GOLD-SMS"]:
            assert (
                integration_api.get(f"/api/v1/customers/{outsider}/coupons/").json()["count"] == 0
            )

        # when the member redeems the 4 off on a 27.00 dried-fruit order, then on a 30.00 one
        four_off = next(c["code"] for c in coupons if c["template"] == "dried-fruit-4-off-28")

        def redeem(order_id, amount):
            return integration_api.post(
                "/api/v1/redemptions/",
                {"code": four_off, "customer": member, "order_id": order_id, "amount": amount,
                 "items": [{"sku": "apricot-250g", "category": "dried fruit", "quantity": 1,
                            "unit_price": amount}],
                 "store": "", "city": "Shanghai"},
                format="json",
            )  # fmt: skip

        refused = redeem("FRI-27", "27.00")
        accepted = redeem("FRI-30", "30.00")

        # then 27.00 is refused under the threshold, 30.00 gets 4.00 off
        assert refused.status_code == 409
        assert refused.json()["reason"] == "threshold_not_met"
        assert accepted.status_code == 201, accepted.json()
        assert accepted.json()["discount"] == "4.00"
        after = integration_api.get(f"/api/v1/customers/{member}/coupons/?status=redeemed")
        assert [c["code"] for c in after.json()["results"]] == [four_off]
