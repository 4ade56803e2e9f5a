-- 010_uuid7_search.sql: ids minted in SQL, and full-text search.
--
-- crm.uuid7(): a time-ordered UUID (RFC 9562 version 7) for rows that SQL
-- itself creates (events raised by triggers, stage history, timeline),
-- so they sort by time like the ids the service mints (app/uuid7.c).
-- Random bits come from gen_random_uuid(); the first 48 bits become the
-- Unix time in milliseconds and the version nibble becomes 7 (bits 52
-- and 53 set on top of version 4's 0100).
CREATE FUNCTION crm.uuid7()
RETURNS uuid
LANGUAGE sql
VOLATILE
SET search_path = pg_catalog
AS $$
	SELECT encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid())
	    PLACING substring(int8send(floor(extract(epoch FROM
	    clock_timestamp()) * 1000)::bigint) FROM 3) FROM 1 FOR 6),
	    52, 1), 53, 1), 'hex')::uuid
$$;

REVOKE ALL ON FUNCTION crm.uuid7() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION crm.uuid7() TO crm_app, crm_worker;

-- Search: every entity table has `search tsvector`, a stored generated
-- column over its searchable fields (the descriptor's ENT_F_SEARCH), with
-- the 'simple' configuration: names, e-mails and domains must match as
-- typed, not stemmed as English.  A query becomes the same lexemes, each
-- a prefix ("acm" finds "Acme"), all required.  NULL for a query with no
-- words, which matches nothing.
CREATE FUNCTION crm.search_query(q text)
RETURNS tsquery
LANGUAGE sql
IMMUTABLE
STRICT
SET search_path = pg_catalog
AS $$
	SELECT string_agg(quote_literal(lexeme) || ':*', ' & ')::tsquery
	FROM unnest(to_tsvector('simple', q))
$$;

REVOKE ALL ON FUNCTION crm.search_query(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION crm.search_query(text) TO crm_app, crm_worker;

ALTER TABLE crm.accounts ADD COLUMN search tsvector GENERATED ALWAYS AS
    (to_tsvector('simple', coalesce(name, '') || ' ' || coalesce(domain, '')
    || ' ' || coalesce(phone, ''))) STORED;
CREATE INDEX accounts_search_idx ON crm.accounts USING gin (tenant_id, search)
    WHERE deleted_at IS NULL;
