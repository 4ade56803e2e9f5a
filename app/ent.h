/*
 * ent.h: the entity engine, Kore-free half (ARCHITECTURE.md "One entity
 * engine, many entities").
 *
 * An entity is a descriptor: its table, its fields with their types and
 * flags, and (in the module) small hooks for real behaviour.  From the
 * descriptor alone the engine
 *
 *	- validates a request body into SQL parameters (ent_bind_*): types,
 *	  required fields, lengths, enums, read-only and unknown fields;
 *	- writes the SQL of get, create, update and delete (ent_sql_*): column
 *	  names only from the descriptor, every value a $n parameter, the
 *	  record rendered as JSON by PostgreSQL (one round trip, no parse and
 *	  dump in C on the read path).
 *
 * Every entity table has the system columns of ENT_SYSTEM_COLUMNS besides
 * its own; `custom jsonb` holds the tenant's custom fields.  The Kore
 * half (routes, handlers, list queries) builds on this one.
 *
 *	ent.c		ent_   descriptors, types, binding, SQL
 */

#ifndef CRM_ENT_H
#define CRM_ENT_H

#include "crm.h"

enum ent_type {
	ENT_TEXT,		/* one line, max chars */
	ENT_LONGTEXT,		/* multi-line, max chars */
	ENT_INT,		/* int64 */
	ENT_NUMBER,		/* decimal, sent as JSON number or string */
	ENT_MONEY,		/* decimal string "1234.50", <= 2 decimals */
	ENT_CURRENCY,		/* ISO 4217 code */
	ENT_DATE,		/* YYYY-MM-DD */
	ENT_DATETIME,		/* RFC 3339 */
	ENT_BOOL,
	ENT_ENUM,		/* one of options */
	ENT_MULTI_ENUM,		/* array of options */
	ENT_EMAIL,
	ENT_PHONE,
	ENT_URL,
	ENT_REF,		/* uuid of a row of ref, same tenant */
	ENT_OBJECT,		/* small JSON object (addresses) */
	ENT_ARRAY,		/* JSON array (stages, related records):
				   its shape is checked by the table's
				   triggers, which raise CR422 naming it */
	ENT__TYPES
};

#define ENT_F_REQUIRED	0x0001	/* on create */
#define ENT_F_FILTER	0x0002	/* filter[...] allowed */
#define ENT_F_SORT	0x0004	/* sort= allowed */
#define ENT_F_SEARCH	0x0008	/* part of q= full text */
#define ENT_F_READONLY	0x0010	/* shown, never written by clients */
#define ENT_F_AUDIT	0x0020	/* changes go to the timeline */
#define ENT_F_NONNEG	0x0040	/* numbers: >= 0 */

struct ent_field {
	const char		*name;
	enum ent_type		 type;
	int			 flags;
	int			 max;		/* chars (text), 0: type default */
	const char *const	*options;	/* ENUM, MULTI_ENUM */
	const char		*ref;		/* REF: the referenced table */
};

/*
 * ENT_D_SHARED: the tenant's configuration or catalogue (pipelines,
 * products), not anybody's records: the record scope does not apply, so a
 * sales user sees every stage and product; the route's permission still
 * decides who may read or change them.
 */
#define ENT_D_SHARED	0x0001

struct ent_desc {
	const char		*name;		/* "accounts": the route */
	const char		*singular;	/* "account": events */
	const char		*table;		/* "crm.accounts" */
	const struct ent_field	*fields;	/* NULL-name terminated */
	int			 flags;		/* ENT_D_* */
};

/*
 * The record scope test, as SQL: may user u see a record owned by o, in
 * tenant t, with scope s ("own", "team", "all")?  The same answer as
 * crm.in_scope() (sql/008), without calling it per row: "all" and the
 * user's own records are decided by the first two terms, "own" stops at
 * the third, and "team" compares the owner with the team's members,
 * computed once per statement (an uncorrelated scalar subquery is an
 * InitPlan, run on first use only).  Calling crm.in_scope() for every row
 * the user does not own cost ~12 us a row: a sales user's page of deals in
 * a stage of 19,260 took 235 ms of PostgreSQL, now 8 ms ("own").  Every
 * statement on records uses this.
 */
#define ENT_SCOPE_SQL(t, o, u, s)					\
	"(" s "::text = 'all' OR " o " = " u " OR (" s "::text = 'team' " \
	"AND " o " = ANY ((SELECT crm.scope_owners(" t ", " u ", " s	\
	"::text))::uuid[])))"

/* Columns every entity table has, in this order after its own. */
#define ENT_SYSTEM_COLUMNS \
	"owner_id, created_at, updated_at, created_by, updated_by, version"

const char	*ent_type_name(enum ent_type);
int	 ent_type_check_table(void);
int	 ent_currency_ok(const char *);	/* ISO 4217 */
int	 ent_currency_table_sorted(void);
const struct ent_field	*ent_field(const struct ent_desc *, const char *);
size_t	 ent_nfields(const struct ent_desc *);

/*
 * Binding a body: each field given becomes one parameter text (NULL for a
 * JSON null), in descriptor order, with a mask of which fields were given.
 * Failures go into the val (400 for unknown or read-only fields, 422 for
 * wrong values), named by field.
 */
#define ENT_MAXFIELDS	64

struct ent_bind {
	int	 given[ENT_MAXFIELDS];
	char	*text[ENT_MAXFIELDS];	/* owned; NULL: SQL NULL */
	int	 nfields;
	char	*custom;		/* owned JSON to merge, or NULL */
	int	 custom_given;
	int	 custom_unknown;	/* named an undefined custom field */
};

/*
 * A tenant's custom fields of one entity (entcf.c), from crm.custom_fields
 * at `version` (sql/011).
 */
#define ENTCF_MAX	100		/* per tenant and entity */

struct ent_cdefs {
	int64_t			 version;
	int			 n;
	struct ent_field	*fields;	/* n, then a NULL name */
};

struct ent_cdefs	*entcf_parse(const char *, int64_t);

/*
 * The two columns entcf_parse() reads: the definitions' version and the
 * definitions as a JSON array, for tenant t and entity e (SQL
 * expressions, usually parameters).  One text for the engine's cache
 * (cfc.c), exports, imports and the import job.
 */
#define ENTCF_DEFS_SQL(t, e)						\
	"SELECT coalesce((SELECT version FROM crm.custom_field_versions "	\
	"WHERE tenant_id = " t " AND entity = " e "), 0), coalesce((SELECT "	\
	"json_agg(json_build_object('name', name, 'type', type, 'required', "	\
	"required, 'options', options, 'ref_entity', ref_entity) ORDER BY "	\
	"position, name) FROM crm.custom_fields WHERE tenant_id = " t		\
	" AND entity = " e "), '[]')"
void	 entcf_free(struct ent_cdefs *);
int	 entcf_type(const char *, enum ent_type *);
const struct ent_field	*entcf_field(const struct ent_cdefs *, const char *);
void	 entcf_bind(const struct ent_cdefs *, json_t *, int, struct val *,
	    struct ent_bind *);

int	 ent_bind_create(const struct ent_desc *, const struct ent_cdefs *,
	    json_t *, struct val *, struct ent_bind *);
int	 ent_bind_update(const struct ent_desc *, const struct ent_cdefs *,
	    json_t *, struct val *, struct ent_bind *);
const char	*ent_why_detail(const char *);
void	 ent_bind_free(struct ent_bind *);
int	 ent_value(const struct ent_field *, json_t *, char **,
	    const char **);

/*
 * SQL.  Every statement starts with the same parameters: $1 tenant, $2 id,
 * $3 acting user, then (not on create) $4 record scope ("own", "team",
 * "all"), $5 event id, and for update $6 the expected version; the given
 * fields follow ($5 on create, $7 on update), then, on create always and
 * on update when custom was given, the custom fields' version and the
 * custom JSON to merge (crm.custom_apply).  Writes add their event row
 * (crm.events, "<singular>.<created|updated|deleted|restored>") in the same
 * statement.  ent_sql_json() is the record as JSON.
 */
void	 ent_sql_json(const struct ent_desc *, struct buf *);
void	 ent_sql_json_sel(const struct ent_desc *, const char *const *,
	    struct buf *);
void	 ent_sql_get(const struct ent_desc *, struct buf *);

/*
 * Reads: plain columns (ent_sql_cols returns their count) rendered to the
 * same JSON in C by ent_render; get returns a column's text and length,
 * or NULL for SQL NULL.
 */
typedef const char	*(*ent_col_fn)(void *, int, size_t *);
int	 ent_sql_cols(const struct ent_desc *, const char *const *,
	    struct buf *);
void	 ent_render(const struct ent_desc *, const char *const *, ent_col_fn,
	    void *, struct buf *);
void	 ent_sql_get_cols(const struct ent_desc *, struct buf *);
void	 ent_sql_create(const struct ent_desc *, const struct ent_bind *,
	    struct buf *);
void	 ent_sql_create_owned(const struct ent_desc *,
	    const struct ent_bind *, struct buf *);
void	 ent_sql_update(const struct ent_desc *, const struct ent_bind *,
	    struct buf *);
void	 ent_sql_delete(const struct ent_desc *, struct buf *);
void	 ent_sql_update_strict(const struct ent_desc *,
	    const struct ent_bind *, struct buf *);
void	 ent_sql_delete_strict(const struct ent_desc *, struct buf *);
void	 ent_sql_restore(const struct ent_desc *, struct buf *);

/*
 * Lists (elist.c): the query string parsed and checked against the
 * descriptor (and the tenant's custom fields), then one SELECT.  On a
 * failure err_code is the problem (invalid_query, invalid_filter,
 * invalid_cursor), err_param the parameter to name, err_detail why.
 */
#define ELIST_DEFLIMIT	50
#define ELIST_MAXLIMIT	200
#define ELIST_MAXSORT	3
#define ELIST_MAXPARAMS	40
#define ELIST_MAXMEMBERS 80
#define ELIST_MAXCURSOR	2048
#define ELIST_FIXED	3		/* $1 tenant, $2 user, $3 scope */

struct elist_sort {
	char			*expr;
	const struct ent_field	*field;
	int			 desc;
};

struct elist {
	int			 limit;
	struct buf		 where;		/* " AND ..." */
	char			*params[ELIST_MAXPARAMS];
	int			 nparams;
	struct elist_sort	 sort[ELIST_MAXSORT + 1];	/* + id */
	int			 nsort;
	char			 sortspec[256];
	char			*fields[ELIST_MAXMEMBERS];
	int			 nfields;
	char			*cursor;
	int			 has_q;
	int			 err_custom;	/* unknown custom.<name> */
	int			 err_code;	/* -1: none */
	char			 err_param[128];
	char			 err_detail[192];
};

int	 elist_parse(struct elist *, const struct ent_desc *,
	    const struct ent_field *, const char *);
int	 elist_sql_cols(const struct elist *, const struct ent_desc *,
	    struct buf *);
void	 elist_sql(const struct elist *, const struct ent_desc *,
	    struct buf *);
char	*elist_cursor(const struct elist *, const char *const *);
void	 elist_free(struct elist *);
int	 elist_decode(char *);

/* The startup drift check against the live table's columns. */
int	 ent_check_columns(const struct ent_desc *, const char *const *,
	    const char *const *, size_t, char *, size_t);

#endif /* CRM_ENT_H */
