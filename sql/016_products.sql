-- 016_products.sql: the catalogue.  Products, and price books whose
-- entries ([{product_id, unit_price}], the client's view) live in
-- crm.price_book_entries too, where a composite foreign key keeps each
-- entry on a product of the same tenant.

CREATE TABLE crm.products (
	tenant_id	uuid NOT NULL REFERENCES crm.tenants (tenant_id),
	id		uuid NOT NULL,
	sku		text,
	name		text NOT NULL CHECK (btrim(name) <> ''),
	description	text,
	category	text,
	unit_of_measure	text,
	unit_price	numeric(15, 2) CONSTRAINT products_unit_price_check
			    CHECK (unit_price >= 0),
	cost		numeric(15, 2) CONSTRAINT products_cost_check
			    CHECK (cost >= 0),
	currency	text CONSTRAINT products_currency_check
			    CHECK (currency ~ '^[A-Z]{3}$'),
	tax_rate	numeric(6, 3) CONSTRAINT products_tax_rate_check
			    CHECK (tax_rate BETWEEN 0 AND 100),
	active		boolean NOT NULL DEFAULT true,
	custom		jsonb NOT NULL DEFAULT '{}',
	owner_id	uuid NOT NULL,
	created_at	timestamptz NOT NULL DEFAULT now(),
	updated_at	timestamptz NOT NULL DEFAULT now(),
	created_by	uuid,
	updated_by	uuid,
	version		bigint NOT NULL DEFAULT 1,
	deleted_at	timestamptz,
	sku_lc		text GENERATED ALWAYS AS (lower(btrim(sku))) STORED,
	search		tsvector GENERATED ALWAYS AS (to_tsvector('simple',
			    coalesce(sku, '') || ' ' || coalesce(name, '') ||
			    ' ' || coalesce(category, ''))) STORED,
	PRIMARY KEY (tenant_id, id),
	CONSTRAINT products_sku_check CHECK (btrim(sku) <> ''),
	FOREIGN KEY (tenant_id, owner_id) REFERENCES crm.users (tenant_id, id)
) PARTITION BY HASH (tenant_id);

-- One live product per SKU, whatever its case: "ab-1" and "AB-1" are the
-- same article to a warehouse.  A second one is a 409; so is restoring a
-- product whose SKU has been taken meanwhile.
CREATE UNIQUE INDEX products_sku_key ON crm.products (tenant_id, sku_lc)
    WHERE deleted_at IS NULL;
CREATE INDEX products_owner_idx ON crm.products (tenant_id, owner_id)
    WHERE deleted_at IS NULL;
CREATE INDEX products_name_idx ON crm.products (tenant_id, name)
    WHERE deleted_at IS NULL;
CREATE INDEX products_search_idx ON crm.products USING gin (tenant_id, search)
    WHERE deleted_at IS NULL;
CREATE TRIGGER products_require BEFORE INSERT OR UPDATE ON crm.products
    FOR EACH ROW EXECUTE FUNCTION crm.require_fields('active');
SELECT crm_meta.make_hash_partitions('crm.products', 16);
SELECT crm_meta.protect_tenant_table('crm.products');

GRANT SELECT, INSERT, UPDATE ON crm.products TO crm_app;
GRANT SELECT ON crm.products TO crm_worker;

CREATE TABLE crm.price_books (
	tenant_id	uuid NOT NULL REFERENCES crm.tenants (tenant_id),
	id		uuid NOT NULL,
	name		text NOT NULL CHECK (btrim(name) <> ''),
	description	text,
	currency	text CONSTRAINT price_books_currency_check
			    CHECK (currency ~ '^[A-Z]{3}$'),
	active		boolean NOT NULL DEFAULT true,
	is_standard	boolean NOT NULL DEFAULT false,
	valid_from	date,
	valid_to	date,
	entries		jsonb NOT NULL DEFAULT '[]',
	custom		jsonb NOT NULL DEFAULT '{}',
	owner_id	uuid NOT NULL,
	created_at	timestamptz NOT NULL DEFAULT now(),
	updated_at	timestamptz NOT NULL DEFAULT now(),
	created_by	uuid,
	updated_by	uuid,
	version		bigint NOT NULL DEFAULT 1,
	deleted_at	timestamptz,
	search		tsvector GENERATED ALWAYS AS (to_tsvector('simple',
			    coalesce(name, ''))) STORED,
	PRIMARY KEY (tenant_id, id),
	CONSTRAINT price_books_valid_to_check CHECK (valid_to >= valid_from),
	FOREIGN KEY (tenant_id, owner_id) REFERENCES crm.users (tenant_id, id)
) PARTITION BY HASH (tenant_id);

-- One standard price book (the list prices) per tenant.
CREATE UNIQUE INDEX price_books_standard_key ON crm.price_books (tenant_id)
    WHERE is_standard AND deleted_at IS NULL;
CREATE INDEX price_books_search_idx ON crm.price_books USING gin
    (tenant_id, search) WHERE deleted_at IS NULL;
SELECT crm_meta.make_hash_partitions('crm.price_books', 16);
SELECT crm_meta.protect_tenant_table('crm.price_books');

GRANT SELECT, INSERT, UPDATE ON crm.price_books TO crm_app;
GRANT SELECT ON crm.price_books TO crm_worker;

CREATE TABLE crm.price_book_entries (
	tenant_id	uuid NOT NULL REFERENCES crm.tenants (tenant_id),
	price_book_id	uuid NOT NULL,
	product_id	uuid NOT NULL,
	unit_price	numeric(15, 2) NOT NULL CHECK (unit_price >= 0),
	PRIMARY KEY (tenant_id, price_book_id, product_id),
	FOREIGN KEY (tenant_id, price_book_id)
	    REFERENCES crm.price_books (tenant_id, id),
	FOREIGN KEY (tenant_id, product_id)
	    REFERENCES crm.products (tenant_id, id)
) PARTITION BY HASH (tenant_id);

-- "Which price books list this product, at what price".
CREATE INDEX price_book_entries_product_idx ON crm.price_book_entries
    (tenant_id, product_id);
SELECT crm_meta.make_hash_partitions('crm.price_book_entries', 16);
SELECT crm_meta.protect_tenant_table('crm.price_book_entries');
GRANT SELECT, INSERT, DELETE ON crm.price_book_entries TO crm_app;
GRANT SELECT ON crm.price_book_entries TO crm_worker;

-- Entries: [{product_id, unit_price}], unit_price a money string like
-- every money field ("12.50", >= 0, at most 2 decimals), each product a
-- live product of the tenant, listed once.  Normalised to two decimals.
CREATE FUNCTION crm.price_book_before()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $$
DECLARE
	e	jsonb;
	i	int := 0;
	f	text;
	pid	uuid;
	out	jsonb := '[]';
BEGIN
	IF TG_OP = 'UPDATE' AND NEW.entries IS NOT DISTINCT FROM OLD.entries
	    THEN
		RETURN NEW;
	END IF;
	NEW.entries := coalesce(NEW.entries, '[]');
	IF jsonb_typeof(NEW.entries) <> 'array' OR
	    jsonb_array_length(NEW.entries) > 1000 THEN
		PERFORM crm.field_error('entries', 'invalid_type',
		    'entries is an array of at most 1000 {product_id, '
		    'unit_price}');
	END IF;
	FOR e IN SELECT x FROM jsonb_array_elements(NEW.entries) x LOOP
		f := format('entries[%s]', i);
		IF jsonb_typeof(e) <> 'object' OR EXISTS (SELECT 1
		    FROM jsonb_object_keys(e) k
		    WHERE k NOT IN ('product_id', 'unit_price')) THEN
			PERFORM crm.field_error(f, 'invalid_type',
			    'each entry is {product_id, unit_price}');
		END IF;
		BEGIN
			pid := (e->>'product_id')::uuid;
		EXCEPTION WHEN invalid_text_representation THEN
			pid := NULL;
		END;
		IF pid IS NULL OR jsonb_typeof(e->'product_id') <> 'string' THEN
			PERFORM crm.field_error(f || '.product_id', 'required',
			    'product_id is a product''s UUID');
		END IF;
		IF NOT EXISTS (SELECT 1 FROM crm.products WHERE
		    tenant_id = NEW.tenant_id AND id = pid AND
		    deleted_at IS NULL) THEN
			PERFORM crm.field_error(f || '.product_id', 'not_found',
			    'no such product');
		END IF;
		IF out @> jsonb_build_array(jsonb_build_object('product_id',
		    pid)) THEN
			PERFORM crm.field_error(f || '.product_id',
			    'duplicate_value', 'this product is listed twice');
		END IF;
		IF jsonb_typeof(e->'unit_price') IS DISTINCT FROM 'string' OR
		    e->>'unit_price' !~ '^[0-9]{1,13}(\.[0-9]{1,2})?$' THEN
			PERFORM crm.field_error(f || '.unit_price',
			    'invalid_format', 'unit_price is a money string '
			    '>= 0 with at most 2 decimals, like "12.50"');
		END IF;
		out := out || jsonb_build_array(jsonb_build_object('product_id',
		    pid, 'unit_price', ((e->>'unit_price')::numeric(15, 2))::text));
		i := i + 1;
	END LOOP;
	NEW.entries := out;
	RETURN NEW;
END
$$;

CREATE FUNCTION crm.price_book_after()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $$
BEGIN
	IF TG_OP = 'UPDATE' AND NEW.entries = OLD.entries THEN
		RETURN NULL;
	END IF;
	DELETE FROM crm.price_book_entries
	WHERE tenant_id = NEW.tenant_id AND price_book_id = NEW.id;
	INSERT INTO crm.price_book_entries (tenant_id, price_book_id,
	    product_id, unit_price)
	SELECT NEW.tenant_id, NEW.id, (x->>'product_id')::uuid,
	    (x->>'unit_price')::numeric
	FROM jsonb_array_elements(NEW.entries) x;
	RETURN NULL;
END
$$;

REVOKE ALL ON FUNCTION crm.price_book_before() FROM PUBLIC;
REVOKE ALL ON FUNCTION crm.price_book_after() FROM PUBLIC;

CREATE TRIGGER price_books_before BEFORE INSERT OR UPDATE ON crm.price_books
    FOR EACH ROW EXECUTE FUNCTION crm.price_book_before();
CREATE TRIGGER price_books_require BEFORE INSERT OR UPDATE
    ON crm.price_books FOR EACH ROW
    EXECUTE FUNCTION crm.require_fields('active', 'is_standard');
CREATE TRIGGER price_books_after AFTER INSERT OR UPDATE ON crm.price_books
    FOR EACH ROW EXECUTE FUNCTION crm.price_book_after();
