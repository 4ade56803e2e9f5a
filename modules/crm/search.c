/*
 * search.c: GET /v1/search?q=, one query across every entity the caller
 * may read (API.md "Special routes").
 *
 * Each entity contributes its best matches from its own `search` column
 * (sql/010: the GIN index), within the caller's record scope, and the
 * union is ranked by ts_rank.  Entities the credential cannot read are
 * left out of the SQL altogether, so a search never reveals what a list
 * would not.  A hit is {entity, id, title, rank}; the title is the
 * record's name, or its person's names, or its subject.
 */

#include <stdio.h>
#include <string.h>

#include "srv.h"
#include "ent.h"

#define SEARCH_DEFLIMIT	20
#define SEARCH_MAXLIMIT	50

static const char	search_none[] = "{\"data\":[],\"next_cursor\":null}";

/* The display title of a record, from whichever of these it has. */
static void
search_title(const struct ent_desc *d, struct buf *b)
{
	if (ent_field(d, "name") != NULL)
		buf_appends(b, "name");
	else if (ent_field(d, "first_name") != NULL &&
	    ent_field(d, "last_name") != NULL)
		buf_appends(b, "btrim(coalesce(first_name, '') || ' ' || "
		    "coalesce(last_name, ''))");
	else if (ent_field(d, "subject") != NULL)
		buf_appends(b, "subject");
	else
		buf_appends(b, "id::text");
}

static int
search_readable(struct rq *rq, const struct ent_desc *d)
{
	char	perm[64];

	(void)snprintf(perm, sizeof(perm), "%s:read", d->name);
	return (pipe_allows(rq, perm));
}

/*
 * $1 tenant, $2 user, $3 scope, $4 query text, $5 limit.  $2 and $3 are
 * named in the outer WHERE too: with only tenant-wide entities nothing
 * else would give them a type.
 */
static int
search_sql(struct rq *rq, const char *only, struct buf *b)
{
	const struct ent_desc	*d;
	int			 i, n = 0;

	for (i = 0; (d = eng_desc_at(i)) != NULL; i++) {
		if (!search_readable(rq, d) || (only != NULL &&
		    strcmp(only, d->name) != 0))
			continue;
		buf_appends(b, n++ ? " UNION ALL " : "SELECT json_build_object("
		    "'data', coalesce(json_agg(json_build_object('entity', "
		    "entity, 'id', id, 'title', title, 'rank', round(rank::"
		    "numeric, 4)) ORDER BY rank DESC, entity, id), '[]'), "
		    "'next_cursor', NULL)::text FROM (SELECT * FROM (");
		buf_appendf(b, "(SELECT '%s' AS entity, id, ", d->name);
		search_title(d, b);
		buf_appendf(b, " AS title, ts_rank(search, crm.search_query($4)) "
		    "AS rank FROM %s WHERE tenant_id = $1 AND deleted_at IS NULL "
		    "AND search @@ crm.search_query($4)", d->table);
		if (!(d->flags & ENT_D_SHARED))
			buf_appends(b, " AND " ENT_SCOPE_SQL("$1", "owner_id",
			    "$2", "$3"));
		buf_appends(b, " ORDER BY rank DESC LIMIT $5)");
	}
	if (n > 0)
		buf_appends(b, ") u ORDER BY rank DESC, entity, id LIMIT $5) h "
		    "WHERE $2::uuid IS NOT NULL AND $3::text IS NOT NULL");
	return (n);
}

struct search_q {
	char	q[256];
	char	entity[48];
	int	limit;
};

/* q (required), limit, entity; anything else is a 400 naming it. */
static int
search_parse(struct rq *rq, struct search_q *sq, const char **bad)
{
	char		*qs, *tok, *save, *eq;
	int		 rc = 0;

	memset(sq, 0, sizeof(*sq));
	sq->limit = SEARCH_DEFLIMIT;
	qs = xstrdup(pipe_query(rq) ? pipe_query(rq) : "");
	for (tok = strtok_r(qs, "&", &save); tok != NULL && rc == 0;
	    tok = strtok_r(NULL, "&", &save)) {
		eq = strchr(tok, '=');
		if (eq != NULL)
			*eq++ = '\0';
		if (eq == NULL || elist_decode(tok) == -1 ||
		    elist_decode(eq) == -1)
			rc = (*bad = "query", -1);
		else if (strcmp(tok, "q") == 0 && strlen(eq) < sizeof(sq->q))
			(void)snprintf(sq->q, sizeof(sq->q), "%s", eq);
		else if (strcmp(tok, "limit") == 0 && strspn(eq, "0123456789") ==
		    strlen(eq) && strlen(eq) <= 2 && atoi(eq) >= 1 &&
		    atoi(eq) <= SEARCH_MAXLIMIT)
			sq->limit = atoi(eq);
		else if (strcmp(tok, "entity") == 0 && strlen(eq) <
		    sizeof(sq->entity))
			(void)snprintf(sq->entity, sizeof(sq->entity), "%s", eq);
		else
			rc = (*bad = strcmp(tok, "q") == 0 || strcmp(tok,
			    "limit") == 0 || strcmp(tok, "entity") == 0 ? "value" :
			    "name", -1);
	}
	xfree(qs);
	if (rc == 0 && sq->q[strspn(sq->q, " \t")] == '\0')
		rc = (*bad = "q", -1);
	return (rc);
}

static void
search_free(void *h)
{
	buf_free(h);
	xfree(h);
}

static int
search_done(struct rq *rq)
{
	PGresult	*res;

	if (!db_ok(rq))
		return (db_reply_error(rq));
	res = db_res(rq, 0);
	return (reply_raw(rq, 200, "application/json; charset=utf-8",
	    PQgetvalue(res, 0, 0), PQgetlength(res, 0, 0)));
}

static int
search_get(struct rq *rq)
{
	struct search_q	 sq;
	struct db_batch	*b;
	struct buf	*sql;
	const char	*bad = NULL;

	if (search_parse(rq, &sq, &bad) == -1 ||
	    (sq.entity[0] && eng_find(sq.entity) == NULL))
		return (reply_problem(rq, PROB_INVALID_QUERY, "q is required "
		    "(1 to 255 characters); limit is 1 to %d; entity names one "
		    "entity", SEARCH_MAXLIMIT));
	sql = xcalloc(1, sizeof(*sql));
	buf_init(sql, 2048);
	rq->h = sql;
	rq->h_free = search_free;
	if (search_sql(rq, sq.entity[0] ? sq.entity : NULL, sql) == 0)
		return (reply_raw(rq, 200, "application/json; charset=utf-8",
		    search_none, sizeof(search_none) - 1));
	b = db_batch(rq, DB_TX | DB_READONLY);
	db_stmt(b, buf_cstr(sql));
	db_param(b, rq->who.tenant);
	db_param(b, rq->who.owner);
	db_param(b, perm_scope_name(rq->who.scope));
	db_param(b, sq.q);
	db_paramf(b, "%d", sq.limit);
	return (db_run(rq, b, search_done));
}

static const struct route	search_routes[] = {
	ROUTE(HTTP_METHOD_GET, "/v1/search", "search:read", search_get, 0,
	    "Search every entity the caller can read (?q=)"),
};

const struct crm_module search_module = {
	"search", search_routes, sizeof(search_routes) /
	sizeof(search_routes[0]), NULL, NULL
};
