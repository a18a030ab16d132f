-- pgbench script of bench/bench_claims.py: the statements one HTTP claim sends, in order
-- (captured with `python -m bench.bench_claims --statements`), with the same rows read and
-- written, on the twin campaign bench-claims-sql. Needs --protocol=prepared (:token is a
-- parameter) and the -D variables bench_claims.py passes. The extra nextval() gives each
-- transaction a fresh customer, as every HTTP request names a fresh one.
SELECT nextval('bench_claims_customer_seq') AS cid \gset
-- request: token authentication, role check, the serializer's three look-ups
SELECT t.key, t.user_id, u.id, u.password, u.is_active, u.is_superuser FROM authtoken_token t JOIN auth_user u ON t.user_id = u.id WHERE t.key = :token LIMIT 21;
SELECT 1 AS a FROM auth_group g JOIN auth_user_groups ug ON g.id = ug.group_id WHERE ug.user_id = (SELECT user_id FROM authtoken_token WHERE key = :token) AND g.name IN ('marketer', 'integration') LIMIT 1;
SELECT c.*, s.* FROM campaigns_campaign c JOIN segments_segment s ON c.segment_id = s.id WHERE c.id = :campaign_id LIMIT 21;
SELECT * FROM crm_customer WHERE customer_id = 'C' || lpad(:cid::text, 7, '0') LIMIT 21;
SELECT * FROM crm_channel WHERE id = :channel_id LIMIT 21;
-- engine, before the locks: idempotency look-up, audience (by pk)
SELECT * FROM campaigns_grant WHERE campaign_id = :campaign_id AND idempotency_key = 'bench-sql-' || :cid::text ORDER BY id LIMIT 1;
SELECT 1 AS a FROM crm_customer WHERE order_count >= 0 AND id = :cid LIMIT 1;
-- engine, under the locks
BEGIN;
INSERT INTO campaigns_customerclaimlock (customer_id) VALUES (:cid) ON CONFLICT (customer_id) DO UPDATE SET customer_id = EXCLUDED.customer_id;
SELECT * FROM campaigns_grant WHERE campaign_id = :campaign_id AND idempotency_key = 'bench-sql-' || :cid::text ORDER BY id LIMIT 1;
SELECT * FROM campaigns_customercampaigncounter WHERE campaign_id = :campaign_id AND customer_id = :cid ORDER BY id LIMIT 1 FOR UPDATE;
INSERT INTO campaigns_customercampaigncounter (campaign_id, customer_id, total_grants, limit_total, day, day_grants, limit_daily) VALUES (:campaign_id, :cid, 0, 1, '0001-01-01', 0, 1) RETURNING id \gset counter_
SELECT * FROM campaigns_campaign WHERE id = :campaign_id LIMIT 21 FOR UPDATE;
SELECT * FROM campaigns_campaignresource r JOIN campaigns_coupontemplate t ON r.template_id = t.id WHERE r.campaign_id = :campaign_id;
SELECT * FROM campaigns_harassmentsettings WHERE id = 1 LIMIT 21;
SELECT count(*) FROM campaigns_coupon WHERE customer_id = :cid AND NOT self_claimed AND status = 'unused' AND valid_until > now();
SELECT * FROM campaigns_coupon WHERE customer_id = :cid AND issued_at > now() - interval '24 hours' AND NOT self_claimed AND status IN ('unused', 'redeemed', 'expired') AND template_id IN (:template_id) ORDER BY issued_at DESC LIMIT 1;
UPDATE campaigns_customercampaigncounter SET total_grants = total_grants + 1, day_grants = CASE WHEN day = current_date THEN day_grants + 1 ELSE 1 END, day = current_date, limit_total = 1, limit_daily = 1 WHERE id = :counter_id;
UPDATE campaigns_campaign SET issued_count = issued_count + 1, spent = spent + 10.00 WHERE id = :campaign_id;
INSERT INTO campaigns_grant (campaign_id, customer_id, channel_id, trigger, idempotency_key, request_fingerprint, granted_at, coupon_count, cost) VALUES (:campaign_id, :cid, :channel_id, 'login', 'bench-sql-' || :cid::text, md5(:cid::text) || md5(:cid::text), now(), 1, 10.00) RETURNING id \gset grant_
INSERT INTO campaigns_coupon (created_at, updated_at, code, template_id, campaign_id, grant_id, customer_id, status, self_claimed, issued_at, valid_from, valid_until, face_value, threshold, status_changed_at) VALUES (now(), now(), upper(substr(md5(random()::text), 1, 12)), :template_id, :campaign_id, :grant_id, :cid, 'unused', false, now(), now(), now() + interval '7 days', 10.00, 50.00, NULL) RETURNING id \gset coupon_
INSERT INTO campaigns_couponevent (kind, at, campaign_id, customer_id, coupon_id, channel_code, reason, amount) VALUES ('grant', now(), :campaign_id, :cid, :coupon_id, 'app_push', '', 10.00) RETURNING id;
COMMIT;
