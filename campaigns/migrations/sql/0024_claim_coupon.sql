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
-- Decision order (SPEC §5's list): not_running, outside_window, out_of_scope,
-- channel_not_in_campaign, trigger_not_in_campaign, not_in_audience, holdout (no lock
-- needed), then under the customer's locks daily_limit, campaign_limit, out_of_stock,
-- budget_exhausted, harassment_cap, harassment_interval. Rows are locked in one fixed order,
-- the same as campaigns/locks.py for the Python writers, so two claims never wait on each
-- other in a cycle:
--   1. the customer's claim lock row (campaigns_customerclaimlock), upserted;
--   2. the customer's counter in the campaign (campaigns_customercampaigncounter);
--   3. the campaign row, last, by the one conditional UPDATE of its counters, which also
--      re-checks status, window, stock and budget: the hot row is held only from that
--      statement to the commit.
-- The counters change by increments, and the CHECK constraints of campaigns.models
-- (issued <= stock, spent <= budget, grants <= the limits copied onto the counter row) make
-- over-issue impossible even if this code were wrong.
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
-- Details are for a person to read: moments in the operator's time zone p_time_zone (Django's
-- TIME_ZONE), written as campaigns/operator_time.py writes them in Python.
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

CREATE OR REPLACE FUNCTION campaigns_operator_time(p_at timestamptz, p_zone text)
RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    -- campaigns.operator_time.operator_time(): "2026-11-25 00:00 (Asia/Shanghai)", with the
    -- seconds only when the moment has some, so a refusal reads as the pages show times
    -- whichever door it comes through (UTC ISO times read as the wrong day in Shanghai).
    SELECT to_char(local, CASE WHEN date_trunc('minute', local) = local
                               THEN 'YYYY-MM-DD HH24:MI' ELSE 'YYYY-MM-DD HH24:MI:SS' END)
           || ' (' || p_zone || ')'
    FROM (SELECT p_at AT TIME ZONE p_zone AS local) AS moment
$$;

-- A function's result type and arguments cannot be replaced: dropped first (the 14-argument
-- form of migrations 0003-0019, the 15-argument one since).
DROP FUNCTION IF EXISTS campaigns_claim_coupon(text, text, text, text, text, text, timestamptz,
    date, boolean, bigint, timestamptz, integer, integer, text);
DROP FUNCTION IF EXISTS campaigns_claim_coupon(text, text, text, text, text, text, timestamptz,
    date, boolean, bigint, timestamptz, integer, integer, text, boolean);
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
    p_default_min_hours integer,
    p_time_zone text,
    -- The batch entry passes FALSE: see SET CONSTRAINTS below.
    p_check_now boolean DEFAULT TRUE
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
    updated_at timestamptz,
    partner_code text
)
LANGUAGE plpgsql
-- Every read here is by a key with an index. PL/pgSQL keeps each statement's plan for the
-- session; a plan made while a table was small (a fresh install, statistics of an emptied
-- table) would keep scanning it sequentially as it grows: measured with bench_claims after
-- emptying the bench campaigns, 147 claims/s and falling run by run, against 313/s.
-- JIT off: a statement left with no index (max(updated_at) of the few segments) costs
-- 10^10 with seqscan off, and JIT compiled it for 140 ms on every call.
SET enable_seqscan = off
SET jit = off
AS $$
#variable_conflict use_column
DECLARE
    v_campaign campaigns_campaign%ROWTYPE;
    v_customer_id bigint;
    v_customer_city text;
    v_is_member boolean;
    v_member_tier text;
    v_channel_id bigint;
    v_segment_name text;
    v_treated boolean;
    v_grant campaigns_grant%ROWTYPE;
    v_coupons campaigns_coupon[];
    v_counter campaigns_customercampaigncounter%ROWTYPE;
    v_grants_today integer;
    v_coupon_count integer;
    v_template_ids bigint[];
    v_cost numeric;
    v_amount numeric;  -- a red envelope's amount for this grant; NULL for fixed coupons
    v_draw double precision;
    v_max_unused integer;
    v_min_hours integer;
    v_unused integer;
    v_recent_code text;
    v_recent_at timestamptz;
    v_self boolean := p_trigger = 'self';
    v_reason text;
    v_detail text;
    v_alphabet constant text := 'ABCDEFGHJKLMNPQRSTUVWXYZ23456789';
    -- The look-ups of a grant by key and of the customer's coupons run through EXECUTE:
    -- planned on every call with the table sizes of the moment. A plan kept for the
    -- connection's life (PL/pgSQL's, for a static statement) that was made while the tables
    -- were small picked the smallest index (campaign_id alone, or (status, valid_until))
    -- and then filtered every grant of the campaign, or every unused coupon: 10.8 ms per
    -- claim after 16,000 grants against 1.2 ms, and HTTP claims falling from 386/s to 120/s
    -- run after run. Planning these three each call costs ~0.15 ms (pgbench -c 1).
    -- tests/campaigns/test_claim_engine_plans.py holds it.
    c_grant_by_key constant text :=
        'SELECT * FROM campaigns_grant g WHERE g.campaign_id = $1 AND g.idempotency_key = $2';
BEGIN
    SELECT * INTO v_campaign FROM campaigns_campaign c WHERE c.code = p_campaign;
    IF NOT FOUND THEN
        outcome := 'unknown';
        reason := 'campaign';
        detail := format('No campaign with code %s.', p_campaign);
        RETURN NEXT;
        RETURN;
    END IF;
    SELECT c.id, c.city, c.is_member, c.member_tier
    INTO v_customer_id, v_customer_city, v_is_member, v_member_tier
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
        EXECUTE c_grant_by_key INTO v_grant USING v_campaign.id, p_idempotency_key;
        IF v_grant.id IS NOT NULL THEN
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
                campaigns_operator_time(v_campaign.claim_starts_at, p_time_zone),
                campaigns_operator_time(v_campaign.claim_ends_at, p_time_zone));
            EXIT decide;
        END IF;
        -- Cities are free text typed by marketers and importers: compared trimmed and
        -- case-insensitively, so "shanghai " in the scope serves a customer of "Shanghai".
        IF jsonb_array_length(v_campaign.cities) > 0
           AND NOT EXISTS (SELECT 1 FROM jsonb_array_elements_text(v_campaign.cities) AS t(city)
                           WHERE lower(btrim(t.city)) = lower(btrim(v_customer_city))) THEN
            v_reason := 'out_of_scope';
            v_detail := format('city %s is not in the campaign''s cities %s',
                CASE WHEN coalesce(v_customer_city, '') = '' THEN '''(unknown)'''
                     ELSE quote_literal(v_customer_city) END,
                (SELECT string_agg(city, ', ' ORDER BY position)
                 FROM jsonb_array_elements_text(v_campaign.cities) WITH ORDINALITY AS t(city, position)));
            EXIT decide;
        END IF;
        -- The campaign's channels and trigger (SPEC §4): a claim through another channel or
        -- on another trigger would be granted and attributed where the campaign never ran.
        IF NOT EXISTS (SELECT 1 FROM campaigns_campaign_channels cc
                       WHERE cc.campaign_id = v_campaign.id AND cc.channel_id = v_channel_id) THEN
            v_reason := 'channel_not_in_campaign';
            v_detail := format('channel %s is not one of the campaign''s channels %s', p_channel,
                (SELECT coalesce(string_agg(ch.code, ', ' ORDER BY cc.id), '(none)')
                 FROM campaigns_campaign_channels cc JOIN crm_channel ch ON ch.id = cc.channel_id
                 WHERE cc.campaign_id = v_campaign.id));
            EXIT decide;
        END IF;
        IF p_trigger <> v_campaign.trigger THEN
            v_reason := 'trigger_not_in_campaign';
            v_detail := format('trigger %s is not the campaign''s trigger %s',
                p_trigger, v_campaign.trigger);
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
        -- Member incentives (SPEC §4): an audience limited to members, or to some tiers
        -- (compared as tiers are typed: trimmed, whatever their case).
        IF (v_campaign.members_only OR jsonb_array_length(v_campaign.member_tiers) > 0)
           AND NOT coalesce(v_is_member, FALSE) THEN
            v_reason := 'not_in_audience';
            v_detail := format('customer %s is not a member; the campaign is for members only',
                p_customer);
            EXIT decide;
        END IF;
        IF jsonb_array_length(v_campaign.member_tiers) > 0
           AND NOT EXISTS (SELECT 1 FROM jsonb_array_elements_text(v_campaign.member_tiers) AS t(tier)
                           WHERE lower(btrim(t.tier)) = lower(btrim(v_member_tier))) THEN
            v_reason := 'not_in_audience';
            v_detail := format('member tier %s is not one of the campaign''s tiers %s',
                CASE WHEN coalesce(v_member_tier, '') = '' THEN '(none)'
                     ELSE quote_literal(v_member_tier) END,
                (SELECT string_agg(tier, ', ' ORDER BY position)
                 FROM jsonb_array_elements_text(v_campaign.member_tiers) WITH ORDINALITY AS t(tier, position)));
            EXIT decide;
        END IF;
        v_treated := NOT (v_campaign.holdout_share > 0
            AND campaigns_holdout_draw(v_campaign.id, v_customer_id)
                < v_campaign.holdout_share * 18446744073709551616);
        -- The audience record (SPEC §4): a customer who joined the segment after the start
        -- is added at their claim, in the group the hash gives (a refused holdout claim
        -- too), so the report compares every member who could claim.
        INSERT INTO campaigns_audiencemember AS m (campaign_id, customer_id, treated,
                                                   joined_at, at_start)
        VALUES (v_campaign.id, v_customer_id, v_treated, p_now, FALSE)
        ON CONFLICT (campaign_id, customer_id) DO NOTHING;
        IF NOT v_treated THEN
            v_reason := 'holdout';
            v_detail := format('customer %s is in the campaign''s holdout group', p_customer);
            EXIT decide;
        END IF;

        -- Locks, in the fixed order -------------------------------------------------------
        INSERT INTO campaigns_customerclaimlock AS l (customer_id) VALUES (v_customer_id)
        ON CONFLICT (customer_id) DO UPDATE SET customer_id = EXCLUDED.customer_id;
        -- A retry that waited for the customer lock while the first request committed.
        EXECUTE c_grant_by_key INTO v_grant USING v_campaign.id, p_idempotency_key;
        IF v_grant.id IS NOT NULL THEN
            EXIT decide;
        END IF;
        SELECT * INTO v_counter FROM campaigns_customercampaigncounter k
        WHERE k.campaign_id = v_campaign.id AND k.customer_id = v_customer_id FOR UPDATE;
        -- The campaign row is not locked here: its counters change only by the conditional
        -- UPDATE at the end, so other claims queue on it for that statement and the
        -- commit alone. This fresh read decides the refusals in SPEC order; the UPDATE
        -- re-checks status, window, stock and budget under its lock.
        SELECT * INTO v_campaign FROM campaigns_campaign c WHERE c.id = v_campaign.id;
        IF v_campaign.status <> 'running' THEN
            v_reason := 'not_running';
            v_detail := format('campaign %s is %s', v_campaign.code, v_campaign.status);
            EXIT decide;
        END IF;

        -- Rules under the locks -----------------------------------------------------------
        -- One coupon's cost is CouponTemplate.budget_cost: max_discount for percent
        -- coupons, face_value otherwise.
        SELECT coalesce(sum(r.quantity), 0),
               coalesce(sum(r.quantity * CASE WHEN t.kind = 'percent' THEN t.max_discount
                                             ELSE t.face_value END), 0),
               array_agg(r.template_id)
        INTO v_coupon_count, v_cost, v_template_ids
        FROM campaigns_campaignresource r JOIN campaigns_coupontemplate t ON t.id = r.template_id
        WHERE r.campaign_id = v_campaign.id;
        -- Red envelopes (one cash coupon per grant, checked at launch): the amount decays
        -- with the customer's grants so far in the campaign (shared), or is drawn in the
        -- configured range (random); it is the grant's cost, so the budget check below and
        -- the conditional UPDATE hold the budget exactly under concurrency.
        IF v_campaign.envelope_kind = 'shared' THEN
            v_amount := CASE coalesce(v_counter.total_grants, 0)
                WHEN 0 THEN v_cost
                WHEN 1 THEN greatest(round(v_cost * v_campaign.decay_ratio, 2), 0.01)
                ELSE least(v_campaign.decay_floor, v_cost) END;
            v_cost := v_amount;
        ELSIF v_campaign.envelope_kind = 'random' THEN
            v_draw := random();
            IF v_campaign.random_distribution = 'mostly_low' THEN
                -- Triangular, its mode at the minimum: the inverse of its distribution.
                v_draw := 1 - sqrt(1 - v_draw);
            END IF;
            v_amount := round(v_campaign.random_min
                + (v_campaign.random_max - v_campaign.random_min) * v_draw::numeric, 2);
            v_cost := v_amount;
        END IF;
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
            -- A partner's coupon waiting for its code counts: it becomes unused with it.
            EXECUTE 'SELECT count(*) FROM campaigns_coupon c
                     WHERE c.customer_id = $1 AND c.status IN (''unused'', ''pending'')
                       AND NOT c.self_claimed AND c.valid_until > $2'
            INTO v_unused USING v_customer_id, p_now;
            IF v_unused + v_coupon_count > v_max_unused THEN
                v_reason := 'harassment_cap';
                v_detail := format('the customer holds %s unused coupons; the cap is %s',
                    v_unused, v_max_unused);
                EXIT decide;
            END IF;
            EXECUTE 'SELECT t.code, c.issued_at
                     FROM campaigns_coupon c JOIN campaigns_coupontemplate t ON t.id = c.template_id
                     WHERE c.customer_id = $1 AND NOT c.self_claimed
                       AND c.status IN (''unused'', ''pending'', ''redeemed'', ''expired'')
                       AND c.template_id = ANY($2) AND c.issued_at > $3
                     ORDER BY c.issued_at DESC LIMIT 1'
            INTO v_recent_code, v_recent_at
            USING v_customer_id, v_template_ids, p_now - make_interval(hours => v_min_hours);
            IF v_recent_code IS NOT NULL THEN
                v_reason := 'harassment_interval';
                v_detail := format('template %s was granted at %s; at most once per %s hours',
                    v_recent_code, campaigns_operator_time(v_recent_at, p_time_zone), v_min_hours);
                EXIT decide;
            END IF;
        END IF;

        -- The grant -----------------------------------------------------------------------
        -- Everything is written first, then the campaign's counters by one conditional
        -- UPDATE: the hot campaign row is locked only from that statement to the commit.
        -- (Locking it before the checks, as the row order of campaigns/locks.py would,
        -- made every claim wait for the whole of the one before: Lock:tuple waits, 140
        -- claims/s at 16 clients.) If the UPDATE finds the campaign exhausted, paused or
        -- closed meanwhile, the block's savepoint undoes the writes.
        BEGIN
            -- The key is taken first: a concurrent first request with the same key for
            -- another customer (so another customer lock) makes this one a replay.
            INSERT INTO campaigns_grant AS g (campaign_id, customer_id, channel_id, trigger,
                idempotency_key, request_fingerprint, granted_at, coupon_count, cost)
            VALUES (v_campaign.id, v_customer_id, v_channel_id, p_trigger, p_idempotency_key,
                p_fingerprint, p_now, v_coupon_count, v_cost)
            ON CONFLICT (campaign_id, idempotency_key) DO NOTHING
            RETURNING * INTO v_grant;
            IF NOT FOUND THEN
                EXECUTE c_grant_by_key INTO v_grant USING v_campaign.id, p_idempotency_key;
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
            WITH issued AS (
                INSERT INTO campaigns_coupon AS c (created_at, updated_at, code, template_id,
                    campaign_id, grant_id, customer_id, status, self_claimed, issued_at,
                    valid_from, valid_until, face_value, threshold, status_changed_at,
                    partner_code, partner_attempts, partner_error)
                SELECT p_now, p_now,
                    -- 12 characters of an unambiguous 32-letter alphabet (~60 bits) from the
                    -- random bytes of a v4 UUID (pg_strong_random); byte 6 is the version.
                    (SELECT string_agg(substr(v_alphabet, get_byte(u.bytes, i) % 32 + 1, 1), ''
                                       ORDER BY i)
                     FROM unnest(ARRAY[0, 1, 2, 3, 4, 5, 7, 8, 9, 10, 11, 12]) AS i),
                    -- A partner's coupon (its template names a partner) waits, invisible
                    -- to the customer, until the partner's platform sends its code
                    -- (campaigns/services/partner_codes.py).
                    t.id, v_campaign.id, v_grant.id, v_customer_id,
                    CASE WHEN t.partner_id IS NULL THEN 'unused' ELSE 'pending' END, v_self, p_now,
                    CASE WHEN t.valid_days IS NOT NULL THEN p_now ELSE t.valid_from END,
                    CASE WHEN t.valid_days IS NOT NULL
                         THEN p_now + t.valid_days * interval '24 hours'
                         ELSE t.valid_until END,
                    coalesce(v_amount, t.face_value), t.threshold, NULL, '', 0, ''
                FROM campaigns_campaignresource r
                JOIN campaigns_coupontemplate t ON t.id = r.template_id
                CROSS JOIN LATERAL generate_series(1, r.quantity) AS copy(number)
                CROSS JOIN LATERAL (SELECT uuid_send(gen_random_uuid()) AS bytes, copy.number) AS u
                WHERE r.campaign_id = v_campaign.id
                ORDER BY r.id, copy.number
                RETURNING c.*
            ), logged AS (
                INSERT INTO campaigns_couponevent (kind, at, campaign_id, customer_id, coupon_id,
                    channel_code, reason, amount)
                SELECT 'grant', p_now, v_campaign.id, v_customer_id, issued.id, p_channel, '',
                    issued.face_value
                FROM issued
            )
            -- The answer is kept from RETURNING, not read back (a look-up by grant_id that
            -- the cached generic plan ran as a scan of the template's coupons cost 3 ms).
            SELECT array_agg(ROW(issued.*)::campaigns_coupon ORDER BY issued.id)
            INTO v_coupons FROM issued;
            UPDATE campaigns_campaign c
            SET issued_count = c.issued_count + v_coupon_count, spent = c.spent + v_cost
            WHERE c.id = v_campaign.id AND c.status = 'running'
              AND c.claim_starts_at <= p_now AND p_now < c.claim_ends_at
              AND c.issued_count + v_coupon_count <= c.stock
              AND c.spent + v_cost <= c.budget;
            IF NOT FOUND THEN
                RAISE EXCEPTION USING ERRCODE = 'P0001', MESSAGE = 'campaign changed';
            END IF;
            -- The deferred foreign-key checks of the rows written above, here rather than at
            -- the commit, under this function's enable_seqscan = off: at the commit, a
            -- connection kept the plan it first made for a check (a sequential scan while
            -- campaigns_grant and campaigns_coupon were small) and scanned both tables on
            -- every claim with the campaign row locked. After the UPDATE, not before it: the
            -- checks' KEY SHARE lock on the campaign row then falls on this transaction's own
            -- new version and costs nothing; taken before it by every concurrent claim on the
            -- same version, they made MultiXacts (LWLock:MultiXactMember waits) and pgbench
            -- fell from 760 to 227 claims/s. Django's check_constraints() runs the same pair.
            -- Not in a batch: there every claim runs in this block's subtransaction, where
            -- PostgreSQL keeps the fired trigger events until the top transaction ends, so
            -- each SET CONSTRAINTS rescanned all the batch's earlier ones (5,000 claims: 80 s
            -- a batch, 16 ms a claim); the batch's rows are checked once each at its commit.
            IF p_check_now THEN
                SET CONSTRAINTS ALL IMMEDIATE;
                SET CONSTRAINTS ALL DEFERRED;
            END IF;
        EXCEPTION WHEN SQLSTATE 'P0001' THEN
            -- Undone. What changed, in SPEC order:
            SELECT * INTO v_campaign FROM campaigns_campaign c WHERE c.id = v_campaign.id;
            IF v_campaign.status <> 'running' THEN
                v_reason := 'not_running';
                v_detail := format('campaign %s is %s', v_campaign.code, v_campaign.status);
            ELSIF NOT (v_campaign.claim_starts_at <= p_now AND p_now < v_campaign.claim_ends_at) THEN
                v_reason := 'outside_window';
                v_detail := format('claims are open from %s until %s',
                    campaigns_operator_time(v_campaign.claim_starts_at, p_time_zone),
                    campaigns_operator_time(v_campaign.claim_ends_at, p_time_zone));
            ELSIF v_campaign.issued_count + v_coupon_count > v_campaign.stock THEN
                v_reason := 'out_of_stock';
                v_detail := format('%s coupons left, a grant needs %s',
                    v_campaign.stock - v_campaign.issued_count, v_coupon_count);
            ELSE
                v_reason := 'budget_exhausted';
                v_detail := format('%s of the budget left, a grant costs %s',
                    v_campaign.budget - v_campaign.spent, v_cost);
            END IF;
            EXIT decide;
        END;
        RETURN QUERY SELECT 'granted'::text, NULL::text, NULL::text, v_grant.id, v_grant.granted_at,
            v_grant.campaign_id, v_grant.customer_id, v_grant.channel_id,
            c.id, c.code::text, t.id, t.code::text, t.kind::text, t.max_discount, c.status::text,
            c.self_claimed, c.issued_at, c.valid_from, c.valid_until, c.face_value, c.threshold,
            c.created_at, c.updated_at, c.partner_code::text
        FROM unnest(v_coupons) AS c JOIN campaigns_coupontemplate t ON t.id = c.template_id
        ORDER BY c.id;
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
        c.created_at, c.updated_at, c.partner_code::text
    -- OFFSET 0: the grant's coupons by their grant_id index first, then their templates.
    FROM (SELECT * FROM campaigns_coupon k WHERE k.grant_id = v_grant.id OFFSET 0) c
    JOIN campaigns_coupontemplate t ON t.id = c.template_id
    ORDER BY c.id;
END;
$$;

-- The batch entry (SPEC §4 scheduled push): the claims of a batch of customers in one
-- statement, one round trip, one transaction. It is the same engine, not a second one:
-- each customer's claim is campaigns_claim_coupon above, called in the batch's order, so
-- the decision order, locks, constraints and ledger rows are those of a single claim
-- (tests/campaigns/test_claim_batch.py proves a batch and the same claims one by one
-- decide identically). The caller passes each customer's idempotency key and fingerprint
-- (a push uses push-<run>-<customer_id>, so a batch granted again after a crash replays
-- instead of granting twice) and its audience test, computed in the same statement.
--
-- One row per customer: outcome granted / replayed / refused / unknown / key_reused /
-- stale, the reason, and the grant. A 'stale' customer stops the batch (the caller
-- recompiles the audience and sends the batch again; what was granted before it replays).
CREATE OR REPLACE FUNCTION campaigns_claim_batch(
    p_campaign text,
    p_customers text[],
    p_idempotency_keys text[],
    p_fingerprints text[],
    p_in_audience boolean[],
    p_channel text,
    p_trigger text,
    p_now timestamptz,
    p_today date,
    p_segment_id bigint,
    p_segments_version timestamptz,
    p_default_max_unused integer,
    p_default_min_hours integer,
    p_time_zone text
)
RETURNS TABLE (
    customer text,
    outcome text,
    reason text,
    grant_id bigint,
    customer_pk bigint
)
LANGUAGE plpgsql
SET enable_seqscan = off
SET jit = off
AS $$
#variable_conflict use_column
DECLARE
    v_index integer;
    v_answer record;
BEGIN
    FOR v_index IN 1 .. coalesce(array_length(p_customers, 1), 0) LOOP
        -- A granted or replayed claim answers one row per coupon: the first tells all.
        SELECT a.outcome, a.reason, a.grant_id, a.customer_pk INTO v_answer
        FROM campaigns_claim_coupon(p_campaign, p_customers[v_index], p_channel, p_trigger,
            p_idempotency_keys[v_index], p_fingerprints[v_index], p_now, p_today,
            p_in_audience[v_index], p_segment_id, p_segments_version, p_default_max_unused,
            p_default_min_hours, p_time_zone, FALSE) AS a
        LIMIT 1;
        customer := p_customers[v_index];
        outcome := v_answer.outcome;
        reason := v_answer.reason;
        grant_id := v_answer.grant_id;
        customer_pk := v_answer.customer_pk;
        RETURN NEXT;
        IF v_answer.outcome = 'stale' THEN
            RETURN;
        END IF;
    END LOOP;
END;
$$;
