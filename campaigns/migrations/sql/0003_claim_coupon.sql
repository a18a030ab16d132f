-- THE claim engine (SPEC §4, refusal reasons of SPEC §5), run inside PostgreSQL.
--
-- campaigns.services.claims.claim_coupon() is its only caller: one statement, one round
-- trip per claim. Why in the database: the decision needs ~15 reads and writes under row
-- locks; sent one by one from Django they cost 21 round trips and ~13 ms of Python per
-- claim, 32 claims/s at 16 clients on the 2-core machine (bench/bench_claims.py, stop 5),
-- against a target of 300/s. PL/pgSQL keeps its plans cached per connection and every
-- statement here reads a fresh snapshot after the locks it waited for (READ COMMITTED),
-- which a single data-modifying CTE statement could not do.
--
-- Decision order: not_running, outside_window, out_of_scope, not_in_audience, holdout (no
-- lock needed), then under the locks, always taken in this order so two claims never wait
-- on each other in a cycle:
--   1. the customer's claim lock row (campaigns_customerclaimlock), upserted;
--   2. the customer's counter in the campaign (campaigns_customercampaigncounter);
--   3. the campaign row (the hot one, taken last so it is held only for the final writes);
-- daily_limit, campaign_limit, out_of_stock, budget_exhausted, harassment_cap,
-- harassment_interval. The counters then change by increments, and the CHECK constraints
-- of campaigns.models (issued <= stock, spent <= budget, grants <= the limits copied onto
-- the counter row) make over-issue impossible even if this code were wrong.
--
-- Idempotency: a key seen before returns that grant's coupons (outcome 'replayed') when
-- the fingerprint matches, else 'key_reused'. The unique (campaign, key) constraint
-- decides between two first requests with the same key for different customers.
--
-- p_in_audience is computed by the caller in the same statement: EXISTS over the
-- campaign's segment compiled by segments.compiler. It was compiled for segment
-- p_segment_id at segments version p_segments_version (the latest segments.updated_at);
-- if either no longer holds, the answer is 'stale' and the caller recompiles.
--
-- Outcomes, one row each (granted/replayed: one row per coupon, ordered by coupon id):
--   granted, replayed        the coupon columns are set
--   refused                  reason + detail (a refusal row is written to the ledger)
--   key_reused               detail
--   unknown                  reason = the input field (customer, channel), detail
--   stale                    the audience must be recompiled
CREATE OR REPLACE FUNCTION campaigns_holdout_draw(p_campaign_id bigint, p_customer_id bigint)
RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    -- The first 8 bytes of sha256("holdout:<campaign pk>:<customer pk>") as an unsigned
    -- integer: a customer is held out when it is below holdout_share * 2^64. Stable per
    -- (campaign, customer), independent between campaigns, nothing stored.
    SELECT CASE WHEN draw < 0 THEN draw + 18446744073709551616 ELSE draw END
    FROM (SELECT ('x' || encode(substring(sha256(convert_to(
                     'holdout:' || p_campaign_id || ':' || p_customer_id, 'UTF8')) FROM 1 FOR 8),
                 'hex'))::bit(64)::bigint::numeric AS draw) AS signed
$$;

CREATE OR REPLACE FUNCTION campaigns_iso(p_at timestamptz)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    -- Python's datetime.isoformat() of the UTC moment (Django reads PostgreSQL in UTC), so
    -- refusal details read the same whichever door they come through.
    SELECT to_char(p_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS')
           || CASE WHEN extract(microseconds FROM p_at)::bigint % 1000000 = 0 THEN ''
                   ELSE to_char(p_at AT TIME ZONE 'UTC', '.US') END
           || '+00:00'
$$;

CREATE OR REPLACE FUNCTION campaigns_claim_coupon(
    p_campaign text,
    p_customer text,
    p_channel text,
    p_trigger text,
    p_idempotency_key text,
    p_fingerprint text,
    p_now timestamptz,
    p_today date,
    p_in_audience boolean,
    p_segment_id bigint,
    p_segments_version timestamptz,
    p_default_max_unused integer,
    p_default_min_hours integer
)
RETURNS TABLE (
    outcome text,
    reason text,
    detail text,
    grant_id bigint,
    granted_at timestamptz,
    campaign_pk bigint,
    customer_pk bigint,
    channel_pk bigint,
    coupon_id bigint,
    code text,
    template_id bigint,
    template_code text,
    template_kind text,
    template_max_discount numeric,
    status text,
    self_claimed boolean,
    issued_at timestamptz,
    valid_from timestamptz,
    valid_until timestamptz,
    face_value numeric,
    threshold numeric,
    created_at timestamptz,
    updated_at timestamptz
)
LANGUAGE plpgsql
AS $$
#variable_conflict use_column
DECLARE
    v_campaign campaigns_campaign%ROWTYPE;
    v_customer_id bigint;
    v_customer_city text;
    v_channel_id bigint;
    v_segment_name text;
    v_grant campaigns_grant%ROWTYPE;
    v_counter campaigns_customercampaigncounter%ROWTYPE;
    v_grants_today integer;
    v_coupon_count integer;
    v_cost numeric;
    v_max_unused integer;
    v_min_hours integer;
    v_unused integer;
    v_recent_code text;
    v_recent_at timestamptz;
    v_self boolean := p_trigger = 'self';
    v_reason text;
    v_detail text;
    v_alphabet constant text := 'ABCDEFGHJKLMNPQRSTUVWXYZ23456789';
BEGIN
    SELECT * INTO v_campaign FROM campaigns_campaign c WHERE c.code = p_campaign;
    IF NOT FOUND THEN
        outcome := 'unknown';
        reason := 'campaign';
        detail := format('No campaign with code %s.', p_campaign);
        RETURN NEXT;
        RETURN;
    END IF;
    SELECT c.id, c.city INTO v_customer_id, v_customer_city
    FROM crm_customer c WHERE c.customer_id = p_customer;
    IF NOT FOUND THEN
        outcome := 'unknown';
        reason := 'customer';
        detail := format('No customer with customer_id %s.', p_customer);
        RETURN NEXT;
        RETURN;
    END IF;
    SELECT ch.id INTO v_channel_id FROM crm_channel ch WHERE ch.code = p_channel;
    IF NOT FOUND THEN
        outcome := 'unknown';
        reason := 'channel';
        detail := format('No channel with code %s.', p_channel);
        RETURN NEXT;
        RETURN;
    END IF;

    <<decide>>
    BEGIN
        -- A retry: answer with the first grant, before any rule (the rules may have
        -- changed since, the grant stands).
        SELECT * INTO v_grant FROM campaigns_grant g
        WHERE g.campaign_id = v_campaign.id AND g.idempotency_key = p_idempotency_key;
        IF FOUND THEN
            EXIT decide;
        END IF;

        -- Rules that need no lock ---------------------------------------------------------
        IF v_campaign.status <> 'running' THEN
            v_reason := 'not_running';
            v_detail := format('campaign %s is %s', v_campaign.code, v_campaign.status);
            EXIT decide;
        END IF;
        IF NOT (v_campaign.claim_starts_at <= p_now AND p_now < v_campaign.claim_ends_at) THEN
            v_reason := 'outside_window';
            v_detail := format('claims are open from %s until %s',
                campaigns_iso(v_campaign.claim_starts_at), campaigns_iso(v_campaign.claim_ends_at));
            EXIT decide;
        END IF;
        IF jsonb_array_length(v_campaign.cities) > 0
           AND NOT (v_customer_city IS NOT NULL AND v_campaign.cities ? v_customer_city) THEN
            v_reason := 'out_of_scope';
            v_detail := format('city %s is not in the campaign''s cities %s',
                CASE WHEN coalesce(v_customer_city, '') = '' THEN '''(unknown)'''
                     ELSE quote_literal(v_customer_city) END,
                (SELECT string_agg(city, ', ' ORDER BY position)
                 FROM jsonb_array_elements_text(v_campaign.cities) WITH ORDINALITY AS t(city, position)));
            EXIT decide;
        END IF;
        IF p_segment_id IS DISTINCT FROM v_campaign.segment_id
           OR p_segments_version IS DISTINCT FROM (SELECT max(s.updated_at) FROM segments_segment s) THEN
            outcome := 'stale';
            RETURN NEXT;
            RETURN;
        END IF;
        IF NOT p_in_audience THEN
            SELECT s.name INTO v_segment_name FROM segments_segment s WHERE s.id = v_campaign.segment_id;
            v_reason := 'not_in_audience';
            v_detail := format('customer %s is not in segment %s', p_customer, quote_literal(v_segment_name));
            EXIT decide;
        END IF;
        IF v_campaign.holdout_share > 0
           AND campaigns_holdout_draw(v_campaign.id, v_customer_id)
               < v_campaign.holdout_share * 18446744073709551616 THEN
            v_reason := 'holdout';
            v_detail := format('customer %s is in the campaign''s holdout group', p_customer);
            EXIT decide;
        END IF;

        -- Locks, in the fixed order -------------------------------------------------------
        INSERT INTO campaigns_customerclaimlock AS l (customer_id) VALUES (v_customer_id)
        ON CONFLICT (customer_id) DO UPDATE SET customer_id = EXCLUDED.customer_id;
        -- A retry that waited for the customer lock while the first request committed.
        SELECT * INTO v_grant FROM campaigns_grant g
        WHERE g.campaign_id = v_campaign.id AND g.idempotency_key = p_idempotency_key;
        IF FOUND THEN
            EXIT decide;
        END IF;
        SELECT * INTO v_counter FROM campaigns_customercampaigncounter k
        WHERE k.campaign_id = v_campaign.id AND k.customer_id = v_customer_id FOR UPDATE;
        SELECT * INTO v_campaign FROM campaigns_campaign c WHERE c.id = v_campaign.id FOR UPDATE;
        -- It may have been paused or edited while we waited.
        IF v_campaign.status <> 'running' THEN
            v_reason := 'not_running';
            v_detail := format('campaign %s is %s', v_campaign.code, v_campaign.status);
            EXIT decide;
        END IF;
        IF NOT (v_campaign.claim_starts_at <= p_now AND p_now < v_campaign.claim_ends_at) THEN
            v_reason := 'outside_window';
            v_detail := format('claims are open from %s until %s',
                campaigns_iso(v_campaign.claim_starts_at), campaigns_iso(v_campaign.claim_ends_at));
            EXIT decide;
        END IF;

        -- Rules under the locks -----------------------------------------------------------
        -- One coupon's cost is CouponTemplate.budget_cost: max_discount for percent
        -- coupons, face_value otherwise.
        SELECT coalesce(sum(r.quantity), 0),
               coalesce(sum(r.quantity * CASE WHEN t.kind = 'percent' THEN t.max_discount
                                             ELSE t.face_value END), 0)
        INTO v_coupon_count, v_cost
        FROM campaigns_campaignresource r JOIN campaigns_coupontemplate t ON t.id = r.template_id
        WHERE r.campaign_id = v_campaign.id;
        v_grants_today := CASE WHEN v_counter.day = p_today THEN v_counter.day_grants ELSE 0 END;
        IF v_grants_today >= v_campaign.daily_limit_per_customer THEN
            v_reason := 'daily_limit';
            v_detail := format('%s of %s grants today already',
                v_grants_today, v_campaign.daily_limit_per_customer);
            EXIT decide;
        END IF;
        IF coalesce(v_counter.total_grants, 0) >= v_campaign.limit_per_customer THEN
            v_reason := 'campaign_limit';
            v_detail := format('%s of %s grants in this campaign',
                coalesce(v_counter.total_grants, 0), v_campaign.limit_per_customer);
            EXIT decide;
        END IF;
        IF v_campaign.issued_count + v_coupon_count > v_campaign.stock THEN
            v_reason := 'out_of_stock';
            v_detail := format('%s coupons left, a grant needs %s',
                v_campaign.stock - v_campaign.issued_count, v_coupon_count);
            EXIT decide;
        END IF;
        IF v_campaign.spent + v_cost > v_campaign.budget THEN
            v_reason := 'budget_exhausted';
            v_detail := format('%s of the budget left, a grant costs %s',
                v_campaign.budget - v_campaign.spent, v_cost);
            EXIT decide;
        END IF;
        IF NOT v_self THEN
            SELECT h.max_unused_coupons, h.min_hours_between_same_template
            INTO v_max_unused, v_min_hours FROM campaigns_harassmentsettings h WHERE h.id = 1;
            IF NOT FOUND THEN  -- never edited: the model's defaults, passed by the caller
                v_max_unused := p_default_max_unused;
                v_min_hours := p_default_min_hours;
            END IF;
            SELECT count(*) INTO v_unused FROM campaigns_coupon c
            WHERE c.customer_id = v_customer_id AND c.status = 'unused'
              AND NOT c.self_claimed AND c.valid_until > p_now;
            IF v_unused + v_coupon_count > v_max_unused THEN
                v_reason := 'harassment_cap';
                v_detail := format('the customer holds %s unused coupons; the cap is %s',
                    v_unused, v_max_unused);
                EXIT decide;
            END IF;
            SELECT t.code, c.issued_at INTO v_recent_code, v_recent_at
            FROM campaigns_coupon c JOIN campaigns_coupontemplate t ON t.id = c.template_id
            WHERE c.customer_id = v_customer_id AND NOT c.self_claimed
              AND c.status IN ('unused', 'redeemed', 'expired')
              AND c.template_id IN (SELECT r.template_id FROM campaigns_campaignresource r
                                    WHERE r.campaign_id = v_campaign.id)
              AND c.issued_at > p_now - make_interval(hours => v_min_hours)
            ORDER BY c.issued_at DESC LIMIT 1;
            IF FOUND THEN
                v_reason := 'harassment_interval';
                v_detail := format('template %s was granted at %s; at most once per %s hours',
                    v_recent_code, campaigns_iso(v_recent_at), v_min_hours);
                EXIT decide;
            END IF;
        END IF;

        -- The grant -----------------------------------------------------------------------
        -- The key is taken first: a concurrent first request with the same key for another
        -- customer (so another customer lock) makes this one a replay, with nothing written.
        INSERT INTO campaigns_grant AS g (campaign_id, customer_id, channel_id, trigger,
            idempotency_key, request_fingerprint, granted_at, coupon_count, cost)
        VALUES (v_campaign.id, v_customer_id, v_channel_id, p_trigger, p_idempotency_key,
            p_fingerprint, p_now, v_coupon_count, v_cost)
        ON CONFLICT (campaign_id, idempotency_key) DO NOTHING
        RETURNING * INTO v_grant;
        IF NOT FOUND THEN
            SELECT * INTO v_grant FROM campaigns_grant g
            WHERE g.campaign_id = v_campaign.id AND g.idempotency_key = p_idempotency_key;
            EXIT decide;
        END IF;
        INSERT INTO campaigns_customercampaigncounter AS k (campaign_id, customer_id,
            total_grants, limit_total, day, day_grants, limit_daily)
        VALUES (v_campaign.id, v_customer_id, 1, v_campaign.limit_per_customer, p_today, 1,
            v_campaign.daily_limit_per_customer)
        ON CONFLICT (campaign_id, customer_id) DO UPDATE SET
            total_grants = k.total_grants + 1,
            day_grants = CASE WHEN k.day = p_today THEN k.day_grants + 1 ELSE 1 END,
            day = p_today,
            limit_total = EXCLUDED.limit_total,
            limit_daily = EXCLUDED.limit_daily;
        UPDATE campaigns_campaign c
        SET issued_count = c.issued_count + v_coupon_count, spent = c.spent + v_cost
        WHERE c.id = v_campaign.id;
        WITH issued AS (
            INSERT INTO campaigns_coupon AS c (created_at, updated_at, code, template_id,
                campaign_id, grant_id, customer_id, status, self_claimed, issued_at,
                valid_from, valid_until, face_value, threshold, status_changed_at)
            SELECT p_now, p_now,
                -- 12 characters of an unambiguous 32-letter alphabet (~60 bits) from the
                -- random bytes of a v4 UUID (pg_strong_random); byte 6 carries the version.
                (SELECT string_agg(substr(v_alphabet, get_byte(u.bytes, i) % 32 + 1, 1), ''
                                   ORDER BY i)
                 FROM unnest(ARRAY[0, 1, 2, 3, 4, 5, 7, 8, 9, 10, 11, 12]) AS i),
                t.id, v_campaign.id, v_grant.id, v_customer_id, 'unused', v_self, p_now,
                CASE WHEN t.valid_days IS NOT NULL THEN p_now ELSE t.valid_from END,
                CASE WHEN t.valid_days IS NOT NULL THEN p_now + t.valid_days * interval '24 hours'
                     ELSE t.valid_until END,
                t.face_value, t.threshold, NULL
            FROM campaigns_campaignresource r
            JOIN campaigns_coupontemplate t ON t.id = r.template_id
            CROSS JOIN LATERAL generate_series(1, r.quantity) AS copy(number)
            CROSS JOIN LATERAL (SELECT uuid_send(gen_random_uuid()) AS bytes, copy.number) AS u
            WHERE r.campaign_id = v_campaign.id
            ORDER BY r.id, copy.number
            RETURNING c.id, c.face_value
        )
        INSERT INTO campaigns_couponevent (kind, at, campaign_id, customer_id, coupon_id,
            channel_code, reason, amount)
        SELECT 'grant', p_now, v_campaign.id, v_customer_id, issued.id, p_channel, '',
            issued.face_value
        FROM issued;
        RETURN QUERY SELECT 'granted'::text, NULL::text, NULL::text, v_grant.id, v_grant.granted_at,
        v_grant.campaign_id, v_grant.customer_id, v_grant.channel_id,
            c.id, c.code::text, t.id, t.code::text, t.kind::text, t.max_discount, c.status::text,
            c.self_claimed, c.issued_at, c.valid_from, c.valid_until, c.face_value, c.threshold,
            c.created_at, c.updated_at
        FROM campaigns_coupon c JOIN campaigns_coupontemplate t ON t.id = c.template_id
        WHERE c.grant_id = v_grant.id ORDER BY c.id;
        RETURN;
    END decide;

    IF v_reason IS NOT NULL THEN
        INSERT INTO campaigns_couponevent (kind, at, campaign_id, customer_id, coupon_id,
            channel_code, reason, amount)
        VALUES ('refusal', p_now, v_campaign.id, v_customer_id, NULL, p_channel, v_reason, 0);
        outcome := 'refused';
        reason := v_reason;
        detail := v_detail;
        RETURN NEXT;
        RETURN;
    END IF;
    -- A replay of v_grant.
    IF v_grant.request_fingerprint <> p_fingerprint THEN
        outcome := 'key_reused';
        detail := format('idempotency_key %s was used for another claim (different customer, '
            'channel or trigger)', quote_literal(p_idempotency_key));
        RETURN NEXT;
        RETURN;
    END IF;
    RETURN QUERY SELECT 'replayed'::text, NULL::text, NULL::text, v_grant.id, v_grant.granted_at,
        v_grant.campaign_id, v_grant.customer_id, v_grant.channel_id,
        c.id, c.code::text, t.id, t.code::text, t.kind::text, t.max_discount, c.status::text,
        c.self_claimed, c.issued_at, c.valid_from, c.valid_until, c.face_value, c.threshold,
        c.created_at, c.updated_at
    FROM campaigns_coupon c JOIN campaigns_coupontemplate t ON t.id = c.template_id
    WHERE c.grant_id = v_grant.id ORDER BY c.id;
END;
$$;
