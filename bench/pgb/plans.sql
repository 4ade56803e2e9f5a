-- bench/pgb/plans.sql: the one statement of GET /v1/plans (no tenant).
SELECT json_build_object('data', coalesce(json_agg(json_build_object('code', code, 'name', name, 'seats', seats, 'records', records, 'api_requests_per_minute', api_per_min, 'storage_mb', storage_mb, 'price_cents', price_cents) ORDER BY price_cents, code), '[]'))::text FROM crm.plans;
