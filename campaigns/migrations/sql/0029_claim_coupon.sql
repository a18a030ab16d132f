-- THE claim engine (SPEC §4, refusal reasons of SPEC §5), run inside PostgreSQL.
--
-- campaigns.services.claims calls it: claim_coupon() one claim, claim_batch() a batch (a
-- scheduled push); one statement, one round trip per claim or per batch. Why in the database: the decision needs ~15 reads and writes under row
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
--   1. the customer's claim lock row (campaigns_customerclaimlock), upserted (a batch's
--      customers in customer order);
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

CREATE OR REPLACE FUNCTION campaigns_shared_envelope_amount(
    p_full numeric, p_ratio numeric, p_floor numeric, p_earlier_grants integer)
RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    -- A shared red envelope's amount for a customer with p_earlier_grants grants of it
    -- already (SPEC §4): the 1st claim gets the full amount, the 2nd full x ratio (at least
    -- a cent), the 3rd and later the floor (never more than the full amount). The engine
    -- grants it; the share page (campaigns/share_links.py) shows it.
    SELECT CASE p_earlier_grants
        WHEN 0 THEN p_full
        WHEN 1 THEN greatest(round(p_full * p_ratio, 2), 0.01)
        ELSE least(p_floor, p_full) END
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
-- claim of migrations 0003-0019 and of 0027 on, the 15-argument one of 0021-0024, and the
-- batch entry of 0024, which answered fewer columns).
DROP FUNCTION IF EXISTS campaigns_claim_coupon(text, text, text, text, text, text, timestamptz,
    date, boolean, bigint, timestamptz, integer, integer, text);
DROP FUNCTION IF EXISTS campaigns_claim_coupon(text, text, text, text, text, text, timestamptz,
    date, boolean, bigint, timestamptz, integer, integer, text, boolean);
DROP FUNCTION IF EXISTS campaigns_claim_batch(text, text[], text[], text[], boolean[], text,
    text, timestamptz, date, bigint, timestamptz, integer, integer, text);

-- The engine: the claims of customers p_customers (in this order), each with its
-- idempotency key, fingerprint and audience test, decided as if made one by one in that
-- order, in a fixed number of set-based statements whatever their number. A single claim
-- is a batch of one (campaigns_claim_coupon below); a scheduled push sends 1,000 at a time.
-- Made one by one inside PL/pgSQL, a push granted ~1,000 customers a second: ~15
-- statements, a subtransaction and an UPDATE of the campaign row per claim (the row's
-- version chain grew with every claim of the transaction).
--
-- How the batch keeps the one-by-one answers:
-- - what needs no lock is read for every customer at once (customers, keys already used,
--   the audience test passed in), and the locks are taken once for all the customers still
--   to decide, in customer order;
-- - the decisions are then made in the batch's order over those reads held in arrays, each
--   claim seeing what the claims before it in the batch took: the customer's grants in the
--   campaign and today, its unused coupons and last grant of the campaign's templates, the
--   campaign's stock and budget, and the keys already granted;
-- - everything decided is written by one statement per table, and the campaign's counters
--   by one conditional UPDATE by the batch's totals. If that UPDATE finds the campaign
--   changed meanwhile (concurrent claims took the stock, a pause, a new window), the
--   block's savepoint undoes the writes and the batch is decided again with the campaign
--   row locked, so it cannot change again.
-- Edge left: the same idempotency key sent for two different customers in one batch, the
-- first one granted: the second is key_reused as one by one, but it was written into the
-- audience record (one by one it would not be). A push's keys name their customer.
--
-- One row per customer, in the batch's order, up to a 'stale' answer, which stops the
-- batch (the caller recompiles the audience and sends the rest again).
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
    detail text,
    grant_id bigint,
    granted_at timestamptz,
    campaign_pk bigint,
    customer_pk bigint,
    channel_pk bigint
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
    v_n integer := coalesce(array_length(p_customers, 1), 0);
    v_channel_id bigint;
    v_self boolean := p_trigger = 'self';
    v_alphabet constant text := 'ABCDEFGHJKLMNPQRSTUVWXYZ23456789';
    -- Campaign-wide refusals before and after the city scope (SPEC order), and 'stale'.
    v_early_reason text;
    v_early_detail text;
    v_late_reason text;
    v_late_detail text;
    v_stale boolean;
    v_in_channels boolean;
    v_segment_name text;
    v_tiers text;
    -- Per position i of the batch.
    a_pk bigint[];            -- the customer, NULL when unknown
    a_slot integer[];         -- the customer's place in v_slot_pk
    a_key_slot integer[];     -- the key's place among the batch's distinct keys
    a_city text[];
    a_in_scope boolean[];
    a_member boolean[];
    a_tier text[];
    a_tier_ok boolean[];
    a_treated boolean[];
    a_first_grant bigint[];   -- the grant of the key before any lock
    a_grant bigint[];         -- ... after the locks
    a_grant_fp text[];
    a_grant_at timestamptz[];
    a_grant_customer bigint[];
    a_grant_channel bigint[];
    a_decided boolean[];      -- decided before the locks (unknown, replay, refusal)
    o_outcome text[];
    o_reason text[];
    o_detail text[];
    o_grant bigint[];
    o_granted_at timestamptz[];
    o_customer bigint[];
    o_channel bigint[];
    o_by integer[];           -- a replay of a key granted in this batch: that position
    o_index integer[];        -- granted: its place among the grants written (g_*)
    -- Per customer slot.
    v_slot_pk bigint[];
    s_candidate boolean[];    -- still to decide under the locks
    s_total integer[];
    s_today integer[];
    s_unused integer[];
    s_recent_code text[];
    s_recent_at timestamptz[];
    -- Per key slot: the position that granted it in this batch.
    k_granted integer[];
    -- The campaign's resources.
    v_coupon_count integer;
    v_base_cost numeric;
    v_unused_per_grant integer;
    v_template_ids bigint[];
    v_first_template_code text;
    v_max_unused integer;
    v_min_hours integer;
    -- The decisions.
    v_lock_pks bigint[];
    v_issued integer;
    v_spent numeric;
    v_cost numeric;
    v_amount numeric;
    v_draw double precision;
    v_slot integer;
    v_by integer;
    v_reason text;
    v_detail text;
    g_pos integer[];
    g_pk bigint[];
    g_key text[];
    g_fp text[];
    g_cost numeric[];
    g_amount numeric[];
    v_total_cost numeric;
    v_new_ids bigint[];
    v_written integer;
    v_attempt integer := 0;
    i integer;
    -- The look-ups of grants by key and of the customers' coupons run through EXECUTE:
    -- planned on every call with the table sizes of the moment. A plan kept for the
    -- connection's life (PL/pgSQL's, for a static statement) that was made while the tables
    -- were small picked the smallest index (campaign_id alone, or (status, valid_until))
    -- and then filtered every grant of the campaign, or every unused coupon: 10.8 ms per
    -- claim after 16,000 grants against 1.2 ms, and HTTP claims falling from 386/s to 120/s
    -- run after run. Planning them each call costs ~0.15 ms (pgbench -c 1).
    -- tests/campaigns/test_claim_engine_plans.py holds it.
    -- Every look-up of a batch is a LATERAL ... LIMIT 1 by its unique key: a nested loop of
    -- index probes whatever the statistics say. Joined plainly, a push whose grants were not
    -- yet in the statistics was planned as a hash join over all the campaign's grants (200
    -- estimated, 18,000 read) for every batch.
    -- The campaign is given as (SELECT $1), a value the planner cannot see: estimated by
    -- its own id, a campaign newer than the statistics has about no grants, (campaign,
    -- granted_at) then looks as good as the unique (campaign, idempotency_key), and was
    -- chosen, filtering every grant of the campaign for each key (a 1M push's batches
    -- slowed from 0.5 s to 8.6 s; 47 s for 1,000 keys over 200,000 grants). Unseen, the
    -- campaign holds its average share of the grants and only the unique index finds one.
    c_grants_by_key constant text :=
        'SELECT array_agg(g.id ORDER BY t.n), array_agg(g.request_fingerprint ORDER BY t.n),
                array_agg(g.granted_at ORDER BY t.n), array_agg(g.customer_id ORDER BY t.n),
                array_agg(g.channel_id ORDER BY t.n)
         FROM unnest($2::text[]) WITH ORDINALITY AS t (key, n)
         LEFT JOIN LATERAL (
             SELECT g.* FROM campaigns_grant g
             WHERE g.campaign_id = (SELECT $1) AND g.idempotency_key = t.key LIMIT 1) AS g
             ON TRUE';
BEGIN
    SELECT * INTO v_campaign FROM campaigns_campaign c WHERE c.code = p_campaign;
    IF NOT FOUND THEN
        RETURN QUERY SELECT t.customer, 'unknown'::text, 'campaign'::text,
            format('No campaign with code %s.', p_campaign), NULL::bigint, NULL::timestamptz,
            NULL::bigint, NULL::bigint, NULL::bigint
        FROM unnest(p_customers) WITH ORDINALITY AS t (customer, n) ORDER BY t.n;
        RETURN;
    END IF;

    -- What needs no lock, for every customer at once ----------------------------------------
    -- Cities are free text typed by marketers and importers: compared trimmed and
    -- case-insensitively, so "shanghai " in the scope serves a customer of "Shanghai"; member
    -- tiers the same way. The holdout is the hash of campaigns_holdout_draw.
    SELECT array_agg(s.id ORDER BY s.n), array_agg(s.slot ORDER BY s.n),
           array_agg(s.key_slot ORDER BY s.n), array_agg(s.city ORDER BY s.n),
           array_agg(jsonb_array_length(v_campaign.cities) = 0
                     OR EXISTS (SELECT 1 FROM jsonb_array_elements_text(v_campaign.cities) AS x (city)
                                WHERE lower(btrim(x.city)) = lower(btrim(s.city))) ORDER BY s.n),
           array_agg(coalesce(s.is_member, FALSE) ORDER BY s.n),
           array_agg(s.member_tier ORDER BY s.n),
           array_agg(jsonb_array_length(v_campaign.member_tiers) = 0
                     OR EXISTS (SELECT 1 FROM jsonb_array_elements_text(v_campaign.member_tiers) AS x (tier)
                                WHERE lower(btrim(x.tier)) = lower(btrim(s.member_tier))) ORDER BY s.n),
           array_agg(NOT (v_campaign.holdout_share > 0
                          AND campaigns_holdout_draw(v_campaign.id, s.id)
                              < v_campaign.holdout_share * 18446744073709551616) ORDER BY s.n),
           (SELECT ch.id FROM crm_channel ch WHERE ch.code = p_channel)
    INTO a_pk, a_slot, a_key_slot, a_city, a_in_scope, a_member, a_tier, a_tier_ok, a_treated,
         v_channel_id
    FROM (SELECT t.n, c.id, c.city, c.is_member, c.member_tier,
                 dense_rank() OVER (ORDER BY c.id) AS slot,
                 dense_rank() OVER (ORDER BY t.key) AS key_slot
          FROM unnest(p_customers, p_idempotency_keys) WITH ORDINALITY AS t (customer_id, key, n)
          LEFT JOIN LATERAL (
              SELECT c.id, c.city, c.is_member, c.member_tier FROM crm_customer c
              WHERE c.customer_id = t.customer_id LIMIT 1) AS c ON TRUE) AS s;
    -- The slots are the customers' dense ranks: slot k holds the k-th smallest customer.
    FOR i IN 1 .. v_n LOOP
        v_slot_pk[a_slot[i]] := a_pk[i];
    END LOOP;
    EXECUTE c_grants_by_key INTO a_first_grant, a_grant_fp, a_grant_at, a_grant_customer,
        a_grant_channel USING v_campaign.id, p_idempotency_keys;

    IF v_campaign.status <> 'running' THEN
        v_early_reason := 'not_running';
        v_early_detail := format('campaign %s is %s', v_campaign.code, v_campaign.status);
    ELSIF NOT (v_campaign.claim_starts_at <= p_now AND p_now < v_campaign.claim_ends_at) THEN
        v_early_reason := 'outside_window';
        v_early_detail := format('claims are open from %s until %s',
            campaigns_operator_time(v_campaign.claim_starts_at, p_time_zone),
            campaigns_operator_time(v_campaign.claim_ends_at, p_time_zone));
    END IF;
    -- The campaign's channels and trigger (SPEC §4): a claim through another channel or on
    -- another trigger would be granted and attributed where the campaign never ran.
    SELECT EXISTS (SELECT 1 FROM campaigns_campaign_channels cc
                   WHERE cc.campaign_id = v_campaign.id AND cc.channel_id = v_channel_id),
           p_segment_id IS DISTINCT FROM v_campaign.segment_id
           OR p_segments_version IS DISTINCT FROM (SELECT max(s.updated_at) FROM segments_segment s)
    INTO v_in_channels, v_stale;
    IF NOT v_in_channels THEN
        v_late_reason := 'channel_not_in_campaign';
        v_late_detail := format('channel %s is not one of the campaign''s channels %s', p_channel,
            (SELECT coalesce(string_agg(ch.code, ', ' ORDER BY cc.id), '(none)')
             FROM campaigns_campaign_channels cc JOIN crm_channel ch ON ch.id = cc.channel_id
             WHERE cc.campaign_id = v_campaign.id));
    ELSIF p_trigger <> v_campaign.trigger THEN
        v_late_reason := 'trigger_not_in_campaign';
        v_late_detail := format('trigger %s is not the campaign''s trigger %s',
            p_trigger, v_campaign.trigger);
    END IF;

    -- The rules before the locks, in SPEC order. A key used before answers with its grant
    -- before any rule (the rules may have changed since, the grant stands); a key granted
    -- earlier in this batch is answered in the decisions below.
    FOR i IN 1 .. v_n LOOP
        a_decided[i] := TRUE;
        IF a_pk[i] IS NULL THEN
            o_outcome[i] := 'unknown';
            o_reason[i] := 'customer';
            o_detail[i] := format('No customer with customer_id %s.', p_customers[i]);
        ELSIF v_channel_id IS NULL THEN
            o_outcome[i] := 'unknown';
            o_reason[i] := 'channel';
            o_detail[i] := format('No channel with code %s.', p_channel);
        ELSIF a_first_grant[i] IS NOT NULL THEN
            o_outcome[i] := 'replay';
        ELSIF v_early_reason IS NOT NULL THEN
            o_reason[i] := v_early_reason;
            o_detail[i] := v_early_detail;
        ELSIF NOT a_in_scope[i] THEN
            o_reason[i] := 'out_of_scope';
            o_detail[i] := format('city %s is not in the campaign''s cities %s',
                CASE WHEN coalesce(a_city[i], '') = '' THEN '''(unknown)'''
                     ELSE quote_literal(a_city[i]) END,
                (SELECT string_agg(x.city, ', ' ORDER BY x.position)
                 FROM jsonb_array_elements_text(v_campaign.cities) WITH ORDINALITY AS x (city, position)));
        ELSIF v_late_reason IS NOT NULL THEN
            o_reason[i] := v_late_reason;
            o_detail[i] := v_late_detail;
        ELSIF v_stale THEN
            o_outcome[i] := 'stale';
            v_n := i;
            EXIT;
        ELSIF NOT p_in_audience[i] THEN
            o_reason[i] := 'not_in_audience';
            IF v_segment_name IS NULL THEN  -- read once, when a refusal needs it
                SELECT s.name INTO v_segment_name FROM segments_segment s
                WHERE s.id = v_campaign.segment_id;
            END IF;
            o_detail[i] := format('customer %s is not in segment %s', p_customers[i],
                quote_literal(v_segment_name));
        -- Member incentives (SPEC §4): an audience limited to members, or to some tiers.
        ELSIF (v_campaign.members_only OR jsonb_array_length(v_campaign.member_tiers) > 0)
              AND NOT a_member[i] THEN
            o_reason[i] := 'not_in_audience';
            o_detail[i] := format('customer %s is not a member; the campaign is for members only',
                p_customers[i]);
        ELSIF NOT a_tier_ok[i] THEN
            IF v_tiers IS NULL THEN
                SELECT string_agg(x.tier, ', ' ORDER BY x.position) INTO v_tiers
                FROM jsonb_array_elements_text(v_campaign.member_tiers)
                     WITH ORDINALITY AS x (tier, position);
            END IF;
            o_reason[i] := 'not_in_audience';
            o_detail[i] := format('member tier %s is not one of the campaign''s tiers %s',
                CASE WHEN coalesce(a_tier[i], '') = '' THEN '(none)'
                     ELSE quote_literal(a_tier[i]) END, v_tiers);
        ELSE
            -- Reaches the holdout: written into the audience record below.
            a_decided[i] := FALSE;
        END IF;
    END LOOP;

    -- The audience record (SPEC §4): a customer who joined the segment after the start is
    -- added at their claim, in the group the hash gives (a refused holdout claim too), so the
    -- report compares every member who could claim. Before the locks, as for one claim.
    INSERT INTO campaigns_audiencemember AS m (campaign_id, customer_id, treated, joined_at,
                                               at_start)
    SELECT v_campaign.id, a_pk[x.i], a_treated[x.i], p_now, FALSE
    FROM generate_series(1, v_n) AS x (i)
    WHERE NOT a_decided[x.i]
    ORDER BY a_pk[x.i]
    ON CONFLICT (campaign_id, customer_id) DO NOTHING;
    FOR i IN 1 .. v_n LOOP
        IF NOT a_decided[i] AND NOT a_treated[i] THEN
            a_decided[i] := TRUE;
            o_reason[i] := 'holdout';
            o_detail[i] := format('customer %s is in the campaign''s holdout group', p_customers[i]);
        END IF;
    END LOOP;

    -- Locks, in the fixed order ---------------------------------------------------------------
    -- 1. the customers' claim lock rows, upserted in customer order; 2. their counters in the
    -- campaign; 3. the campaign row, last, by the conditional UPDATE of its counters, which
    -- re-checks status, window, stock and budget: the hot row is held only from that
    -- statement to the commit.
    FOR i IN 1 .. v_n LOOP
        IF NOT a_decided[i] THEN
            s_candidate[a_slot[i]] := TRUE;
        END IF;
    END LOOP;
    FOR i IN 1 .. coalesce(array_length(v_slot_pk, 1), 0) LOOP
        IF s_candidate[i] THEN
            v_lock_pks := v_lock_pks || v_slot_pk[i];
        END IF;
    END LOOP;
    IF v_lock_pks IS NOT NULL THEN
        INSERT INTO campaigns_customerclaimlock AS l (customer_id)
        SELECT x.pk FROM unnest(v_lock_pks) AS x (pk) ORDER BY x.pk
        ON CONFLICT (customer_id) DO UPDATE SET customer_id = EXCLUDED.customer_id;
        -- Probed customer by customer, in customer order (with customer_id = ANY the plan
        -- kept for the session read every counter of the campaign: 9 ms a claim at 15,000;
        -- without the LIMIT, the session's generic plan joined the batch to all of them).
        PERFORM 1 FROM unnest(v_lock_pks) AS x (pk)
        CROSS JOIN LATERAL (
            SELECT k.id FROM campaigns_customercampaigncounter k
            WHERE k.campaign_id = v_campaign.id AND k.customer_id = x.pk
            LIMIT 1 FOR UPDATE) AS k;
    END IF;

    SELECT coalesce(sum(r.quantity), 0),
           coalesce(sum(r.quantity * CASE WHEN t.kind = 'percent' THEN t.max_discount
                                         ELSE t.face_value END), 0),
           coalesce(sum(r.quantity) FILTER (
               WHERE CASE WHEN t.valid_days IS NOT NULL
                          THEN p_now + t.valid_days * interval '24 hours'
                          ELSE t.valid_until END > p_now), 0),
           array_agg(r.template_id ORDER BY r.id),
           (array_agg(t.code ORDER BY r.id))[1]
    INTO v_coupon_count, v_base_cost, v_unused_per_grant, v_template_ids, v_first_template_code
    FROM campaigns_campaignresource r JOIN campaigns_coupontemplate t ON t.id = r.template_id
    WHERE r.campaign_id = v_campaign.id;
    SELECT h.max_unused_coupons, h.min_hours_between_same_template
    INTO v_max_unused, v_min_hours FROM campaigns_harassmentsettings h WHERE h.id = 1;
    IF NOT FOUND THEN  -- never edited: the model's defaults, passed by the caller
        v_max_unused := p_default_max_unused;
        v_min_hours := p_default_min_hours;
    END IF;

    <<attempts>>
    LOOP
        v_attempt := v_attempt + 1;
        -- Fresh reads under the locks (READ COMMITTED: each statement sees what committed
        -- before it): keys granted by a request that committed while this one waited, the
        -- counters, the campaign (locked when a first attempt found it changed).
        EXECUTE c_grants_by_key INTO a_grant, a_grant_fp, a_grant_at, a_grant_customer,
            a_grant_channel USING v_campaign.id, p_idempotency_keys;
        IF v_attempt = 1 THEN
            SELECT * INTO v_campaign FROM campaigns_campaign c WHERE c.id = v_campaign.id;
        ELSE
            SELECT * INTO v_campaign FROM campaigns_campaign c WHERE c.id = v_campaign.id
            FOR NO KEY UPDATE;
        END IF;
        SELECT array_agg(coalesce(k.total_grants, 0) ORDER BY s.slot),
               array_agg(CASE WHEN k.day = p_today THEN k.day_grants ELSE 0 END ORDER BY s.slot)
        INTO s_total, s_today
        FROM unnest(v_slot_pk) WITH ORDINALITY AS s (pk, slot)
        LEFT JOIN LATERAL (
            SELECT k.total_grants, k.day, k.day_grants FROM campaigns_customercampaigncounter k
            WHERE k.campaign_id = v_campaign.id AND k.customer_id = s.pk LIMIT 1) AS k ON TRUE;
        IF NOT v_self AND v_lock_pks IS NOT NULL THEN
            -- A partner's coupon waiting for its code counts: it becomes unused with it.
            -- Each customer's coupons are probed by customer alone (OFFSET 0 keeps the
            -- subquery, so the other conditions stay outside it): given the templates or
            -- the times, the planner, with statistics older than the coupons, read every
            -- coupon of the template (6 ms a claim at 15,000) or every unused coupon.
            EXECUTE 'SELECT array_agg(u.n ORDER BY s.slot), array_agg(r.code ORDER BY s.slot),
                            array_agg(r.issued_at ORDER BY s.slot)
                     FROM unnest($1::bigint[]) WITH ORDINALITY AS s (pk, slot)
                     CROSS JOIN LATERAL (
                         SELECT count(*)::integer AS n
                         FROM (SELECT c.self_claimed, c.valid_until FROM campaigns_coupon c
                               WHERE c.customer_id = s.pk
                                 AND c.status IN (''unused'', ''pending'') OFFSET 0) AS c
                         WHERE NOT c.self_claimed AND c.valid_until > $2) AS u
                     LEFT JOIN LATERAL (
                         SELECT t.code, c.issued_at
                         FROM (SELECT c.template_id, c.issued_at, c.self_claimed
                               FROM campaigns_coupon c
                               WHERE c.customer_id = s.pk
                                 AND c.status IN (''unused'', ''pending'', ''redeemed'', ''expired'')
                               OFFSET 0) AS c
                         JOIN campaigns_coupontemplate t ON t.id = c.template_id
                         WHERE NOT c.self_claimed AND c.template_id = ANY ($3)
                           AND c.issued_at > $4
                         ORDER BY c.issued_at DESC LIMIT 1) AS r ON TRUE'
            INTO s_unused, s_recent_code, s_recent_at
            USING v_slot_pk, p_now, v_template_ids, p_now - make_interval(hours => v_min_hours);
        END IF;
        v_issued := v_campaign.issued_count;
        v_spent := v_campaign.spent;
        k_granted := '{}';
        g_pos := '{}'; g_pk := '{}'; g_key := '{}'; g_fp := '{}'; g_cost := '{}'; g_amount := '{}';

        -- The decisions, in the batch's order -------------------------------------------------
        FOR i IN 1 .. v_n LOOP
            v_by := NULL;
            IF o_outcome[i] IN ('unknown', 'stale') THEN
                CONTINUE;
            END IF;
            IF a_first_grant[i] IS NULL AND a_pk[i] IS NOT NULL THEN
                v_by := k_granted[a_key_slot[i]];
            END IF;
            IF a_first_grant[i] IS NOT NULL OR v_by IS NOT NULL
               OR (NOT a_decided[i] AND a_grant[i] IS NOT NULL) THEN
                -- A retry: a key used before, granted earlier in this batch, or granted by a
                -- request that committed while this one waited for the customer's lock.
                o_outcome[i] := 'replay';
                o_by[i] := v_by;
                CONTINUE;
            END IF;
            IF a_decided[i] THEN
                o_outcome[i] := 'refused';
                CONTINUE;
            END IF;
            v_slot := a_slot[i];
            v_reason := NULL;
            v_amount := NULL;
            v_cost := v_base_cost;
            IF v_campaign.status <> 'running' THEN
                v_reason := 'not_running';
                v_detail := format('campaign %s is %s', v_campaign.code, v_campaign.status);
            ELSIF NOT (v_campaign.claim_starts_at <= p_now AND p_now < v_campaign.claim_ends_at) THEN
                v_reason := 'outside_window';
                v_detail := format('claims are open from %s until %s',
                    campaigns_operator_time(v_campaign.claim_starts_at, p_time_zone),
                    campaigns_operator_time(v_campaign.claim_ends_at, p_time_zone));
            ELSE
                -- Red envelopes (one cash coupon per grant, checked at launch): the amount
                -- decays with the customer's grants so far in the campaign (shared), or is
                -- drawn in the configured range (random); it is the grant's cost, so the
                -- budget check and the conditional UPDATE hold the budget exactly.
                IF v_campaign.envelope_kind = 'shared' THEN
                    v_amount := campaigns_shared_envelope_amount(v_base_cost,
                        v_campaign.decay_ratio, v_campaign.decay_floor, s_total[v_slot]);
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
                IF s_today[v_slot] >= v_campaign.daily_limit_per_customer THEN
                    v_reason := 'daily_limit';
                    v_detail := format('%s of %s grants today already',
                        s_today[v_slot], v_campaign.daily_limit_per_customer);
                ELSIF s_total[v_slot] >= v_campaign.limit_per_customer THEN
                    v_reason := 'campaign_limit';
                    v_detail := format('%s of %s grants in this campaign',
                        s_total[v_slot], v_campaign.limit_per_customer);
                ELSIF v_issued + v_coupon_count > v_campaign.stock THEN
                    v_reason := 'out_of_stock';
                    v_detail := format('%s coupons left, a grant needs %s',
                        v_campaign.stock - v_issued, v_coupon_count);
                ELSIF v_spent + v_cost > v_campaign.budget THEN
                    v_reason := 'budget_exhausted';
                    v_detail := format('%s of the budget left, a grant costs %s',
                        v_campaign.budget - v_spent, v_cost);
                ELSIF NOT v_self AND s_unused[v_slot] + v_coupon_count > v_max_unused THEN
                    v_reason := 'harassment_cap';
                    v_detail := format('the customer holds %s unused coupons; the cap is %s',
                        s_unused[v_slot], v_max_unused);
                ELSIF NOT v_self AND s_recent_code[v_slot] IS NOT NULL THEN
                    v_reason := 'harassment_interval';
                    v_detail := format('template %s was granted at %s; at most once per %s hours',
                        s_recent_code[v_slot],
                        campaigns_operator_time(s_recent_at[v_slot], p_time_zone), v_min_hours);
                END IF;
            END IF;
            IF v_reason IS NOT NULL THEN
                o_outcome[i] := 'refused';
                o_reason[i] := v_reason;
                o_detail[i] := v_detail;
                CONTINUE;
            END IF;
            o_outcome[i] := 'granted';
            k_granted[a_key_slot[i]] := i;
            s_total[v_slot] := s_total[v_slot] + 1;
            s_today[v_slot] := s_today[v_slot] + 1;
            v_issued := v_issued + v_coupon_count;
            v_spent := v_spent + v_cost;
            IF NOT v_self THEN
                s_unused[v_slot] := s_unused[v_slot] + v_unused_per_grant;
                IF v_min_hours > 0 THEN
                    s_recent_code[v_slot] := v_first_template_code;
                    s_recent_at[v_slot] := p_now;
                END IF;
            END IF;
            g_pos := g_pos || i;
            g_pk := g_pk || a_pk[i];
            g_key := g_key || p_idempotency_keys[i];
            g_fp := g_fp || p_fingerprints[i];
            g_cost := g_cost || v_cost;
            g_amount := g_amount || v_amount;
            o_index[i] := cardinality(g_pos);
        END LOOP;

        -- The grants --------------------------------------------------------------------------
        -- Everything is written first, then the campaign's counters by one conditional
        -- UPDATE. If it finds the campaign exhausted, paused or closed meanwhile, or a
        -- concurrent first request took one of the keys, the block's savepoint undoes the
        -- writes and the batch is decided again.
        EXIT attempts WHEN cardinality(g_pos) = 0;
        v_total_cost := v_spent - v_campaign.spent;
        BEGIN
            WITH planned AS (
                SELECT * FROM unnest(g_pos, g_pk, g_key, g_fp, g_cost, g_amount)
                    AS p (pos, pk, key, fp, cost, amount)
            ), granted AS (
                INSERT INTO campaigns_grant AS g (campaign_id, customer_id, channel_id, trigger,
                    idempotency_key, request_fingerprint, granted_at, coupon_count, cost)
                SELECT v_campaign.id, p.pk, v_channel_id, p_trigger, p.key, p.fp, p_now,
                    v_coupon_count, p.cost
                FROM planned p ORDER BY p.pos
                ON CONFLICT (campaign_id, idempotency_key) DO NOTHING
                RETURNING g.id, g.customer_id, g.idempotency_key
            ), numbered AS (
                SELECT p.*, g.id AS grant_id FROM granted g JOIN planned p ON p.key = g.idempotency_key
            ), counted AS (
                INSERT INTO campaigns_customercampaigncounter AS k (campaign_id, customer_id,
                    total_grants, limit_total, day, day_grants, limit_daily)
                SELECT v_campaign.id, n.pk, count(*), v_campaign.limit_per_customer, p_today,
                    count(*), v_campaign.daily_limit_per_customer
                FROM numbered n GROUP BY n.pk ORDER BY n.pk
                ON CONFLICT (campaign_id, customer_id) DO UPDATE SET
                    total_grants = k.total_grants + EXCLUDED.total_grants,
                    day_grants = CASE WHEN k.day = p_today THEN k.day_grants + EXCLUDED.day_grants
                                      ELSE EXCLUDED.day_grants END,
                    day = p_today,
                    limit_total = EXCLUDED.limit_total,
                    limit_daily = EXCLUDED.limit_daily
            ), issued AS (
                INSERT INTO campaigns_coupon AS c (created_at, updated_at, code, template_id,
                    campaign_id, grant_id, customer_id, status, self_claimed, issued_at,
                    valid_from, valid_until, face_value, threshold, status_changed_at,
                    partner_code, partner_attempts, partner_error)
                SELECT p_now, p_now,
                    -- 12 characters of an unambiguous 32-letter alphabet (~60 bits) from the
                    -- random bytes of a v4 UUID (pg_strong_random); byte 6 is the version.
                    (SELECT string_agg(substr(v_alphabet, get_byte(u.bytes, b) % 32 + 1, 1), ''
                                       ORDER BY b)
                     FROM unnest(ARRAY[0, 1, 2, 3, 4, 5, 7, 8, 9, 10, 11, 12]) AS b),
                    -- A partner's coupon (its template names a partner) waits, invisible
                    -- to the customer, until the partner's platform sends its code
                    -- (campaigns/services/partner_codes.py).
                    t.id, v_campaign.id, n.grant_id, n.pk,
                    CASE WHEN t.partner_id IS NULL THEN 'unused' ELSE 'pending' END, v_self, p_now,
                    CASE WHEN t.valid_days IS NOT NULL THEN p_now ELSE t.valid_from END,
                    CASE WHEN t.valid_days IS NOT NULL
                         THEN p_now + t.valid_days * interval '24 hours'
                         ELSE t.valid_until END,
                    coalesce(n.amount, t.face_value), t.threshold, NULL, '', 0, ''
                FROM numbered n
                CROSS JOIN campaigns_campaignresource r
                JOIN campaigns_coupontemplate t ON t.id = r.template_id
                CROSS JOIN LATERAL generate_series(1, r.quantity) AS copy (number)
                -- Correlated with the grant and the copy: drawn for each coupon, never kept
                -- (a lateral on the copy alone was evaluated once for every grant).
                CROSS JOIN LATERAL (SELECT uuid_send(gen_random_uuid()) AS bytes, copy.number,
                                           n.grant_id) AS u
                WHERE r.campaign_id = v_campaign.id
                ORDER BY n.pos, r.id, copy.number
                RETURNING c.id, c.customer_id, c.face_value
            ), logged AS (
                INSERT INTO campaigns_couponevent (kind, at, campaign_id, customer_id, coupon_id,
                    channel_code, reason, amount)
                SELECT 'grant', p_now, v_campaign.id, issued.customer_id, issued.id, p_channel, '',
                    issued.face_value
                FROM issued
            )
            SELECT count(*), array_agg(n.grant_id ORDER BY n.pos) INTO v_written, v_new_ids
            FROM numbered n;
            IF v_written < cardinality(g_pos) THEN
                RAISE EXCEPTION USING ERRCODE = 'P0001', MESSAGE = 'key taken';
            END IF;
            UPDATE campaigns_campaign c
            SET issued_count = c.issued_count + v_coupon_count * v_written,
                spent = c.spent + v_total_cost
            WHERE c.id = v_campaign.id AND c.status = 'running'
              AND c.claim_starts_at <= p_now AND p_now < c.claim_ends_at
              AND c.issued_count + v_coupon_count * v_written <= c.stock
              AND c.spent + v_total_cost <= c.budget;
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
            SET CONSTRAINTS ALL IMMEDIATE;
            SET CONSTRAINTS ALL DEFERRED;
            EXIT attempts;
        EXCEPTION WHEN SQLSTATE 'P0001' THEN
            IF v_attempt >= 5 THEN
                RAISE;
            END IF;
        END;
    END LOOP;

    -- The answers ------------------------------------------------------------------------------
    FOR i IN 1 .. v_n LOOP
        IF o_outcome[i] = 'granted' THEN
            o_grant[i] := v_new_ids[o_index[i]];
            o_granted_at[i] := p_now;
            o_customer[i] := a_pk[i];
            o_channel[i] := v_channel_id;
        ELSIF o_outcome[i] = 'replay' THEN
            IF o_by[i] IS NOT NULL THEN
                v_by := o_by[i];
                o_grant[i] := v_new_ids[o_index[v_by]];
                o_granted_at[i] := p_now;
                o_customer[i] := a_pk[v_by];
                o_channel[i] := v_channel_id;
                o_outcome[i] := CASE WHEN p_fingerprints[v_by] = p_fingerprints[i]
                                     THEN 'replayed' ELSE 'key_reused' END;
            ELSE
                o_grant[i] := a_grant[i];
                o_granted_at[i] := a_grant_at[i];
                o_customer[i] := a_grant_customer[i];
                o_channel[i] := a_grant_channel[i];
                o_outcome[i] := CASE WHEN a_grant_fp[i] = p_fingerprints[i]
                                     THEN 'replayed' ELSE 'key_reused' END;
            END IF;
            IF o_outcome[i] = 'key_reused' THEN
                o_detail[i] := format('idempotency_key %s was used for another claim (different '
                    'customer, channel or trigger)', quote_literal(p_idempotency_keys[i]));
                o_grant[i] := NULL;
                o_granted_at[i] := NULL;
                o_customer[i] := NULL;
                o_channel[i] := NULL;
            END IF;
        END IF;
    END LOOP;
    -- Each refusal in the ledger, for the refusals-by-reason report.
    IF 'refused' = ANY (o_outcome) THEN
        INSERT INTO campaigns_couponevent (kind, at, campaign_id, customer_id, coupon_id,
            channel_code, reason, amount)
        SELECT 'refusal', p_now, v_campaign.id, a_pk[x.i], NULL, p_channel, o_reason[x.i], 0
        FROM generate_series(1, v_n) AS x (i)
        WHERE o_outcome[x.i] = 'refused';
    END IF;
    RETURN QUERY
    SELECT p_customers[x.i], o_outcome[x.i],
        CASE WHEN o_outcome[x.i] IN ('refused', 'unknown') THEN o_reason[x.i] END,
        CASE WHEN o_outcome[x.i] IN ('refused', 'unknown', 'key_reused') THEN o_detail[x.i] END,
        o_grant[x.i],
        o_granted_at[x.i], v_campaign.id, coalesce(o_customer[x.i], a_pk[x.i]), o_channel[x.i]
    FROM generate_series(1, v_n) AS x (i) ORDER BY x.i;
END;
$$;

-- One claim: a batch of one, answered with its coupons (granted, replayed: one row per
-- coupon, ordered by coupon id) or with its refusal.
--   granted, replayed        the coupon columns are set
--   refused                  reason + detail (a refusal row is written to the ledger)
--   key_reused               detail
--   unknown                  reason = the input field (campaign, customer, channel), detail
--   stale                    the audience must be recompiled
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
    p_time_zone text
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
SET enable_seqscan = off
SET jit = off
AS $$
#variable_conflict use_column
DECLARE
    v_answer record;
BEGIN
    SELECT * INTO v_answer
    FROM campaigns_claim_batch(p_campaign, ARRAY[p_customer], ARRAY[p_idempotency_key],
        ARRAY[p_fingerprint], ARRAY[p_in_audience], p_channel, p_trigger, p_now, p_today,
        p_segment_id, p_segments_version, p_default_max_unused, p_default_min_hours,
        p_time_zone) AS a;
    IF v_answer.outcome NOT IN ('granted', 'replayed') THEN
        outcome := v_answer.outcome;
        reason := v_answer.reason;
        detail := v_answer.detail;
        RETURN NEXT;
        RETURN;
    END IF;
    -- Planned on each call (see c_grants_by_key): a cached generic plan ran the look-up by
    -- grant_id as a scan of the template's coupons, 3 ms a claim.
    RETURN QUERY EXECUTE
        'SELECT $1, NULL::text, NULL::text, $2, $3, $4, $5, $6,
                c.id, c.code::text, t.id, t.code::text, t.kind::text, t.max_discount,
                c.status::text, c.self_claimed, c.issued_at, c.valid_from, c.valid_until,
                c.face_value, c.threshold, c.created_at, c.updated_at, c.partner_code::text
         FROM campaigns_coupon c JOIN campaigns_coupontemplate t ON t.id = c.template_id
         WHERE c.grant_id = $2 ORDER BY c.id'
    USING v_answer.outcome, v_answer.grant_id, v_answer.granted_at, v_answer.campaign_pk,
        v_answer.customer_pk, v_answer.channel_pk;
END;
$$;
