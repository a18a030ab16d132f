-- pgbench script of bench/bench_claims.py: the statements one HTTP claim sends, in order
-- (captured with `python -m bench.bench_claims --statements`), with the same rows read and
-- written, on the twin campaign bench-claims-db. Needs --protocol=prepared (:token is a
-- parameter) and the -D variables bench_claims.py passes. The extra nextval() gives each
-- transaction a fresh customer, as every HTTP request names a fresh one.
SELECT nextval('bench_claims_customer_seq') AS cid \gset
-- 1. token authentication with the user's roles (crm.core.authentication)
SELECT t.key, t.user_id, t.created, EXISTS(SELECT 1 FROM auth_group g JOIN auth_user_groups ug ON g.id = ug.group_id WHERE ug.user_id = t.user_id AND g.name = 'marketer') AS in_marketer, EXISTS(SELECT 1 FROM auth_group g JOIN auth_user_groups ug ON g.id = ug.group_id WHERE ug.user_id = t.user_id AND g.name = 'analyst') AS in_analyst, EXISTS(SELECT 1 FROM auth_group g JOIN auth_user_groups ug ON g.id = ug.group_id WHERE ug.user_id = t.user_id AND g.name = 'support') AS in_support, EXISTS(SELECT 1 FROM auth_group g JOIN auth_user_groups ug ON g.id = ug.group_id WHERE ug.user_id = t.user_id AND g.name = 'integration') AS in_integration, u.* FROM authtoken_token t JOIN auth_user u ON t.user_id = u.id WHERE t.key = :token ORDER BY t.key LIMIT 1;
-- 2. the engine, with the audience test of the segment "order_count >= 0"
SELECT * FROM campaigns_claim_coupon('bench-claims-db', 'C' || lpad(:cid::text, 7, '0'), 'app_push', 'login', 'bench-sql-' || :cid::text, md5(:cid::text) || md5(:cid::text), now(), current_date, EXISTS(SELECT 1 FROM crm_customer WHERE order_count >= 0 AND customer_id = 'C' || lpad(:cid::text, 7, '0')), :segment_id, :segments_version::timestamptz, 10, 24, :time_zone);
