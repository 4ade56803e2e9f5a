/*
 * crmctl.c: the operator's command line tool.
 *
 *	crmctl migrate [--dir sql] [--status]
 *	crmctl tenant create --name NAME [--slug S] [--plan P] [--status S]
 *	crmctl seed-demo [--tenants N] [--scale S]
 *	crmctl check-schema
 *
 * Every command works as the owner role, through CRM_OWNER_DATABASE_URL,
 * with synchronous libpq: this is not the request path.  The owner is
 * bound by row-level security like the service (FORCE ROW LEVEL SECURITY),
 * so tenant writes here set app.tenant_id in their transaction exactly as
 * app/db.c does.
 *
 * Exit status: 0 done, 1 a runtime error (database, files, a failed check),
 * 2 a usage error.  Messages go to stderr and name what is wrong; nothing
 * here prints a password or the connection URL.
 *
 * Owns: migration bookkeeping (crm_meta.schema_migrations), the schema
 * rules of SECURITY.md 3.1.5 as a live catalog check (ISO-08), demo data.
 * Leaves to others: the schema itself (sql/NNN_*.sql), the roles
 * (sql/roles.sql, run by a superuser), the request path (app/db.c).
 */

#include <sys/types.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>
#include <openssl/evp.h>

#include "crm.h"
#include "auth.h"

#define CTL_OK		0
#define CTL_ERR		1
#define CTL_USAGE	2

#define OWNER_URL_ENV	"CRM_OWNER_DATABASE_URL"
#define OWNER_ROLE	"crm_owner"

#define SLUG_MIN	3
#define SLUG_MAX	40
#define NAME_MAX_LEN	200

/* pg_advisory_lock key: "crm_mig" read as a big-endian integer. */
#define MIGRATE_LOCK_KEY	"27991836772362599"

/* libpq wants type oids for parameters a statement does not mention. */
#define TEXTOID		25
#define TEXTARRAYOID	1009

struct ctl_cmd {
	const char	*name;
	int		(*fn)(int, char **);
	const char	*help;
};

static int	cmd_check_schema(int, char **);
static int	cmd_keys(int, char **);
static int	cmd_migrate(int, char **);
static int	cmd_seed_demo(int, char **);
static int	cmd_tenant(int, char **);

/* Sorted by name; `crmctl --help` prints them in this order. */
static const struct ctl_cmd ctl_cmds[] = {
	{ "check-schema", cmd_check_schema,
	    "check the live schema against the tenancy rules (ISO-08)" },
	{ "keys", cmd_keys,
	    "keys init|rotate|list: the access-token signing key ring" },
	{ "migrate", cmd_migrate,
	    "apply the numbered migrations in sql/, as crm_owner" },
	{ "seed-demo", cmd_seed_demo,
	    "create the demo tenant(s); safe to run again" },
	{ "tenant", cmd_tenant,
	    "tenant create: create a tenant, print its id" },
};

/* ---------------------------------------------------------------- common */

static int
ctl_usage(const char *cmd, const char *usage, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A usage error: what is wrong, then the command's usage; exit status 2. */
static int
ctl_usage(const char *cmd, const char *usage, const char *fmt, ...)
{
	va_list		ap;

	fprintf(stderr, "crmctl %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n%s", usage);
	return (CTL_USAGE);
}

/* getopt_long's error for the option just read, in our words. */
static int
ctl_badopt(const char *cmd, const char *usage, char **argv)
{
	return (ctl_usage(cmd, usage, "unknown option or missing value: %s",
	    argv[optind - 1]));
}

/* Strict decimal in [min, max]; -1 on anything else. */
static int
ctl_int(const char *s, int min, int max, int *out)
{
	char		*end;
	long		 v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
		return (-1);
	*out = (int)v;
	return (0);
}

/*
 * The server's primary message (and detail), never the statement: a
 * statement could carry a secret one day, the message names the object.
 */
static void
ctl_pgerr(const char *what, PGconn *conn, const PGresult *res)
{
	const char	*msg = NULL, *detail = NULL;
	size_t		 len;

	if (res != NULL) {
		msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
		detail = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);
	}
	if (msg == NULL) {
		msg = PQerrorMessage(conn);
		len = strlen(msg);
		while (len > 0 && msg[len - 1] == '\n')
			len--;
		fprintf(stderr, "crmctl: %s: %.*s\n", what, (int)len, msg);
	} else
		fprintf(stderr, "crmctl: %s: %s\n", what, msg);
	if (detail != NULL)
		fprintf(stderr, "crmctl: detail: %s\n", detail);
}

/*
 * One statement with $n text parameters.  Returns the result on success;
 * on failure prints "crmctl: <what>: <message>" and returns NULL.
 */
static PGresult *
ctl_query(PGconn *conn, const char *what, const char *sql, int n,
    const char *const *params)
{
	PGresult	*res;
	ExecStatusType	 st;

	res = PQexecParams(conn, sql, n, NULL, params, NULL, NULL, 0);
	st = PQresultStatus(res);
	if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK)
		return (res);
	ctl_pgerr(what, conn, res);
	PQclear(res);
	return (NULL);
}

/* ctl_query() for statements whose result is not needed. */
static int
ctl_exec(PGconn *conn, const char *what, const char *sql, int n,
    const char *const *params)
{
	PGresult	*res;

	if ((res = ctl_query(conn, what, sql, n, params)) == NULL)
		return (-1);
	PQclear(res);
	return (0);
}

/* Ends a failed transaction; the connection is closed next anyway. */
static void
ctl_rollback(PGconn *conn)
{
	if (PQtransactionStatus(conn) != PQTRANS_IDLE)
		PQclear(PQexec(conn, "ROLLBACK"));
}

/*
 * Connects with the URL in environment variable `var`.  A malformed URL
 * is reported without libpq's text, which can quote part of it (and so
 * part of the password).
 */
static PGconn *
ctl_connect(const char *var)
{
	const char	*keys[] = { "connect_timeout", "dbname",
			    "application_name", NULL };
	const char	*vals[] = { "10", NULL, "crmctl", NULL };
	PQconninfoOption *opts;
	PGconn		*conn;
	char		*err = NULL;

	if ((vals[1] = getenv(var)) == NULL || vals[1][0] == '\0') {
		fprintf(stderr, "crmctl: %s is not set (the owner role's "
		    "postgresql:// URL)\n", var);
		return (NULL);
	}
	if ((opts = PQconninfoParse(vals[1], &err)) == NULL) {
		fprintf(stderr, "crmctl: %s is not a valid connection URL\n",
		    var);
		PQfreemem(err);
		return (NULL);
	}
	PQconninfoFree(opts);
	conn = PQconnectdbParams(keys, vals, 1);
	if (PQstatus(conn) != CONNECTION_OK) {
		ctl_pgerr("cannot connect with " OWNER_URL_ENV, conn, NULL);
		PQfinish(conn);
		return (NULL);
	}
	if (ctl_exec(conn, "session setup",
	    "SET client_min_messages = warning", 0, NULL) == -1) {
		PQfinish(conn);
		return (NULL);
	}
	return (conn);
}

/* ------------------------------------------------------------- tenants */

static const char *const tenant_statuses[] = {
	"trial", "active", "suspended", "closed", NULL
};

static int
tenant_status_valid(const char *s)
{
	size_t		i;

	for (i = 0; tenant_statuses[i] != NULL; i++)
		if (strcmp(s, tenant_statuses[i]) == 0)
			return (1);
	return (0);
}

/* The rule of crm.tenants' CHECK: [a-z0-9-], 3..40, no dash at the ends. */
static int
slug_valid(const char *s)
{
	size_t		i, len = strlen(s);

	if (len < SLUG_MIN || len > SLUG_MAX)
		return (0);
	if (s[0] == '-' || s[len - 1] == '-')
		return (0);
	for (i = 0; i < len; i++)
		if (!(islower((unsigned char)s[i]) ||
		    isdigit((unsigned char)s[i]) || s[i] == '-'))
			return (0);
	return (1);
}

/*
 * A slug from a company name: ASCII letters and digits lowercased, every
 * run of anything else one dash, cut at SLUG_MAX on a word boundary where
 * possible.  "Müller & Söhne GmbH" gives "m-ller-s-hne-gmbh": operators who
 * want better pass --slug.  Returns -1 if nothing valid is left.
 */
static int
slug_from_name(const char *name, char out[SLUG_MAX + 1])
{
	size_t		len = 0;
	int		gap = 0;
	unsigned char	c;

	for (; *name != '\0'; name++) {
		c = (unsigned char)*name;
		if (c >= 0x80 || !isalnum(c)) {
			gap = 1;
			continue;
		}
		if (gap && len > 0) {
			if (len + 2 > SLUG_MAX)
				break;
			out[len++] = '-';
		} else if (len + 1 > SLUG_MAX)
			break;
		gap = 0;
		out[len++] = (char)tolower(c);
	}
	out[len] = '\0';
	return (slug_valid(out) ? 0 : -1);
}

static int
tenant_name_valid(const char *s)
{
	size_t		len = strlen(s), i;

	if (len == 0 || len > NAME_MAX_LEN || !js_utf8_valid(s, len))
		return (0);
	for (i = 0; i < len; i++)
		if (!isspace((unsigned char)s[i]))
			return (1);
	return (0);
}

/* Its id if a tenant has this slug: 1 found, 0 not, -1 error. */
static int
tenant_lookup(PGconn *conn, const char *slug, char id[UUID_STRLEN + 1])
{
	PGresult	*res;
	const char	*p[1] = { slug };
	int		 found;

	res = ctl_query(conn, "tenant lookup",
	    "SELECT tenant_id FROM auth.tenant_by_slug($1)", 1, p);
	if (res == NULL)
		return (-1);
	if ((found = PQntuples(res) == 1))
		snprintf(id, UUID_STRLEN + 1, "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	return (found);
}

static int
plan_exists(PGconn *conn, const char *plan)
{
	PGresult	*res;
	const char	*p[1] = { plan };
	int		 n;

	res = ctl_query(conn, "plan lookup",
	    "SELECT 1 FROM crm.plans WHERE code = $1", 1, p);
	if (res == NULL)
		return (-1);
	n = PQntuples(res);
	PQclear(res);
	return (n == 1);
}

struct tenant_new {
	const char	*name;
	const char	*slug;
	const char	*plan;
	const char	*status;
	char		 id[UUID_STRLEN + 1];	/* out */
};

/*
 * Creates a tenant with a fresh UUIDv7.  The transaction carries the new
 * id as app.tenant_id first: the owner is bound by the tenant policy too,
 * whose WITH CHECK admits only rows of the tenant in context.
 * Returns 0, -1 on error, or 1 when the slug is taken (nothing printed,
 * so that seed-demo can treat a concurrent run as "exists").
 */
static int
tenant_insert(PGconn *conn, struct tenant_new *t)
{
	PGresult	*res;
	const char	*sqlstate, *p[5];
	int		 rc = -1;

	uuid7_new_str(t->id);
	p[0] = t->id;
	if (ctl_exec(conn, "begin", "BEGIN", 0, NULL) == -1 ||
	    ctl_exec(conn, "tenant context",
	    "SELECT set_config('app.tenant_id', $1, true)", 1, p) == -1)
		goto out;
	p[1] = t->name;
	p[2] = t->slug;
	p[3] = t->plan;
	p[4] = t->status;
	res = PQexecParams(conn, "INSERT INTO crm.tenants "
	    "(tenant_id, name, slug, plan, status) "
	    "VALUES ($1, $2, $3, $4, $5)", 5, NULL, p, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		sqlstate = PQresultErrorField(res, PG_DIAG_SQLSTATE);
		if (sqlstate != NULL && strcmp(sqlstate, "23505") == 0)
			rc = 1;
		else
			ctl_pgerr("tenant create", conn, res);
		PQclear(res);
		goto out;
	}
	PQclear(res);
	if (ctl_exec(conn, "commit", "COMMIT", 0, NULL) == 0)
		rc = 0;
out:
	ctl_rollback(conn);
	return (rc);
}

static const char tenant_usage[] =
    "usage: crmctl tenant create --name NAME [--slug SLUG] [--plan PLAN]\n"
    "                            [--status STATUS]\n"
    "  Creates a tenant and prints its id.  SLUG defaults to one made from\n"
    "  NAME ([a-z0-9-], 3..40 characters, unique across all tenants);\n"
    "  PLAN (a crm.plans code) defaults to team; STATUS (trial, active,\n"
    "  suspended, closed) to active.  Uses " OWNER_URL_ENV ".\n";

static int
tenant_create_args(int argc, char **argv, struct tenant_new *t,
    char slug[SLUG_MAX + 1])
{
	static const struct option opts[] = {
		{ "name", required_argument, NULL, 'n' },
		{ "slug", required_argument, NULL, 's' },
		{ "plan", required_argument, NULL, 'p' },
		{ "status", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	int		 ch;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'n':
			t->name = optarg;
			break;
		case 's':
			t->slug = optarg;
			break;
		case 'p':
			t->plan = optarg;
			break;
		case 't':
			t->status = optarg;
			break;
		case 'h':
			fputs(tenant_usage, stdout);
			return (-1);
		default:
			return (ctl_badopt("tenant create", tenant_usage,
			    argv));
		}
	}
	if (optind != argc)
		return (ctl_usage("tenant create", tenant_usage,
		    "unexpected argument: %s", argv[optind]));
	if (t->name == NULL || !tenant_name_valid(t->name))
		return (ctl_usage("tenant create", tenant_usage, "--name must "
		    "be 1..%d bytes of UTF-8, not only spaces", NAME_MAX_LEN));
	if (t->slug == NULL && slug_from_name(t->name, slug) == -1)
		return (ctl_usage("tenant create", tenant_usage, "cannot make "
		    "a slug from --name (too few letters); pass --slug"));
	if (t->slug == NULL)
		t->slug = slug;
	if (!slug_valid(t->slug))
		return (ctl_usage("tenant create", tenant_usage, "--slug: "
		    "%d..%d of a-z, 0-9 and '-', not starting or ending "
		    "with '-'", SLUG_MIN, SLUG_MAX));
	if (!tenant_status_valid(t->status))
		return (ctl_usage("tenant create", tenant_usage, "--status "
		    "must be one of trial, active, suspended, closed"));
	return (0);
}

static int
tenant_create(int argc, char **argv)
{
	struct tenant_new	 t = { NULL, NULL, "team", "active", "" };
	char			 slug[SLUG_MAX + 1];
	PGconn			*conn;
	int			 rc;

	if ((rc = tenant_create_args(argc, argv, &t, slug)) != 0)
		return (rc == -1 ? CTL_OK : rc);
	if ((conn = ctl_connect(OWNER_URL_ENV)) == NULL)
		return (CTL_ERR);
	rc = CTL_ERR;
	switch (plan_exists(conn, t.plan)) {
	case 0:
		fprintf(stderr, "crmctl: tenant create: no plan '%s' in "
		    "crm.plans\n", t.plan);
		break;
	case 1:
		switch (tenant_insert(conn, &t)) {
		case 0:
			printf("%s\n", t.id);
			rc = CTL_OK;
			break;
		case 1:
			fprintf(stderr, "crmctl: tenant create: slug '%s' is "
			    "taken\n", t.slug);
			break;
		}
		break;
	}
	PQfinish(conn);
	return (rc);
}

static int
cmd_tenant(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "create") == 0)
		return (tenant_create(argc - 1, argv + 1));
	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "-h") == 0)) {
		fputs(tenant_usage, stdout);
		return (CTL_OK);
	}
	if (argc < 2)
		return (ctl_usage("tenant", tenant_usage,
		    "missing subcommand"));
	return (ctl_usage("tenant", tenant_usage, "unknown subcommand: %s",
	    argv[1]));
}

/* ----------------------------------------------------------- seed-demo */

/*
 * The demo data is a list of steps, each idempotent, run in order with
 * one shared state; later modules append theirs (users, contacts, deals).
 * A step prints one line per thing it made or found.
 */
struct seed {
	PGconn	*conn;
	int	 tenants;	/* --tenants: demo, demo-2, ... */
	int	 scale;		/* --scale: volume of later steps' data */
	char	 demo_id[UUID_STRLEN + 1];	/* slug demo */
	char	 hash[PW_ENCODED_MAX];		/* the demo password's */
};

struct seed_step {
	const char	*name;
	int		(*fn)(struct seed *);
};

/* Tenant `i` (1-based) of the demo set: found by slug, else created. */
static int
seed_tenant(struct seed *s, int i, char id[UUID_STRLEN + 1])
{
	struct tenant_new	 t = { NULL, NULL, "business", "active", "" };
	char			 slug[SLUG_MAX + 1], name[64];
	int			 rc, tries;

	if (i == 1) {
		snprintf(slug, sizeof(slug), "demo");
		snprintf(name, sizeof(name), "Demo Company");
	} else {
		snprintf(slug, sizeof(slug), "demo-%d", i);
		snprintf(name, sizeof(name), "Demo Company %d", i);
	}
	t.name = name;
	t.slug = slug;
	/* A concurrent seed-demo may win the slug between the two steps. */
	for (tries = 0; tries < 2; tries++) {
		if ((rc = tenant_lookup(s->conn, slug, id)) == 1) {
			printf("tenant %-10s %s  exists\n", slug, id);
			return (0);
		}
		if (rc == -1 || (rc = tenant_insert(s->conn, &t)) == -1)
			return (-1);
		if (rc == 0) {
			snprintf(id, UUID_STRLEN + 1, "%s", t.id);
			printf("tenant %-10s %s  created (%s, plan %s, %s)\n",
			    slug, id, name, t.plan, t.status);
			return (0);
		}
	}
	fprintf(stderr, "crmctl: seed-demo: slug '%s' is taken but not "
	    "visible to auth.tenant_by_slug\n", slug);
	return (-1);
}

static int
seed_tenants(struct seed *s)
{
	char		id[UUID_STRLEN + 1];
	int		i;

	for (i = 1; i <= s->tenants; i++) {
		if (seed_tenant(s, i, i == 1 ? s->demo_id : id) == -1)
			return (-1);
	}
	return (0);
}

/*
 * The demo tenant's built-in roles (as sign-up makes them) and its owner,
 * with CRM_DEMO_EMAIL / CRM_DEMO_PASSWORD (make run generates them; a
 * random password is made and shown when none is given).  Idempotent: an
 * existing owner gets the password again, so the printed login works.
 */
static int
seed_roles(PGconn *conn, const char *tenant)
{
	const struct perm_role	*r;
	const char		*p[4];
	char			 id[UUID_STRLEN + 1];
	size_t			 i;

	for (i = 0; (r = perm_builtin_at(i)) != NULL; i++) {
		uuid7_new_str(id);
		p[0] = tenant;
		p[1] = id;
		p[2] = r->name;
		p[3] = perm_scope_name(r->scope);
		if (ctl_exec(conn, "seed-demo roles", "INSERT INTO crm.roles "
		    "(tenant_id, id, name, builtin, scope) VALUES ($1, $2, $3, "
		    "true, $4) ON CONFLICT (tenant_id, name) DO NOTHING", 4,
		    p) == -1)
			return (-1);
	}
	return (0);
}

static int
seed_owner_user(PGconn *conn, const char *tenant, const char *email,
    const char *hash)
{
	const char	*p[4];
	char		 id[UUID_STRLEN + 1];

	uuid7_new_str(id);
	p[0] = tenant;
	p[1] = id;
	p[2] = email;
	p[3] = hash;
	return (ctl_exec(conn, "seed-demo owner", "INSERT INTO crm.users "
	    "(tenant_id, id, email, name, password_hash, role_id) SELECT $1, "
	    "$2, $3, 'Demo Owner', $4, r.id FROM crm.roles r WHERE "
	    "r.tenant_id = $1 AND r.name = 'owner' ON CONFLICT "
	    "(tenant_id, email_lc) DO UPDATE SET password_hash = "
	    "EXCLUDED.password_hash, status = 'active', updated_at = now()",
	    4, p));
}

static int
seed_owner(struct seed *s)
{
	const char	*email, *pw, *p[1] = { s->demo_id };
	char		 made[40], hash[PW_ENCODED_MAX];
	uint8_t		 r[16];

	if ((email = getenv("CRM_DEMO_EMAIL")) == NULL || *email == '\0')
		email = "demo@example.com";
	if ((pw = getenv("CRM_DEMO_PASSWORD")) == NULL || *pw == '\0') {
		(void)crm_random(r, sizeof(r));
		(void)b64url_encode(r, sizeof(r), made + 5, sizeof(made) - 5);
		memcpy(made, "demo-", 5);
		pw = made;
	}
	if (pw_hash(pw, strlen(pw), hash) != 0) {
		fprintf(stderr, "crmctl: seed-demo: cannot hash the password\n");
		return (-1);
	}
	(void)snprintf(s->hash, sizeof(s->hash), "%s", hash);
	if (ctl_exec(s->conn, "seed-demo", "BEGIN", 0, NULL) == -1 ||
	    ctl_exec(s->conn, "seed-demo", "SELECT set_config("
	    "'app.tenant_id', $1, true)", 1, p) == -1 ||
	    seed_roles(s->conn, s->demo_id) == -1 ||
	    seed_owner_user(s->conn, s->demo_id, email, hash) == -1 ||
	    ctl_exec(s->conn, "seed-demo", "COMMIT", 0, NULL) == -1) {
		ctl_rollback(s->conn);
		return (-1);
	}
	printf("login  %s  password %s  (tenant demo)\n", email, pw);
	return (0);
}

/*
 * Demo accounts: companies a small agency might sell to.  Written once:
 * when the demo tenant has accounts already, the step leaves them alone.
 * --scale S repeats the list S times (numbered), for volume.
 */
static const struct {
	const char	*name, *domain, *industry, *employees, *revenue, *city;
} seed_companies[] = {
	{ "Northwind Traders", "northwind.example", "Wholesale", "120",
	    "18500000.00", "Seattle" },
	{ "Contoso Pharmaceuticals", "contoso.example", "Pharmaceuticals",
	    "2400", "640000000.00", "Boston" },
	{ "Fabrikam Furniture", "fabrikam.example", "Manufacturing", "310",
	    "42000000.00", "Grand Rapids" },
	{ "Tailspin Toys", "tailspin.example", "Retail", "85", "9200000.00",
	    "Portland" },
	{ "Wingtip Logistics", "wingtip.example", "Transportation", "640",
	    "71000000.00", "Memphis" },
	{ "Adventure Works Cycles", "adventure-works.example", "Sports",
	    "210", "26500000.00", "Bothell" },
	{ "Litware Software", "litware.example", "Software", "45",
	    "6100000.00", "Austin" },
	{ "Proseware Health", "proseware.example", "Healthcare", "980",
	    "133000000.00", "Minneapolis" },
	{ "Lucerne Publishing", "lucerne.example", "Media", "60",
	    "7400000.00", "Zurich" },
	{ "Margie's Travel", "margiestravel.example", "Travel", "25",
	    "2900000.00", "Lisbon" },
	{ "Coho Winery", "cohowinery.example", "Food & Beverage", "38",
	    "5300000.00", "Napa" },
	{ "Alpine Ski House", "alpineskihouse.example", "Hospitality", "140",
	    "12800000.00", "Innsbruck" },
};

#define SEED_NCOMPANIES	((int)(sizeof(seed_companies) / sizeof(seed_companies[0])))

static int
seed_account(struct seed *s, const char *owner, int i, int round,
    const char *parent, char id[UUID_STRLEN + 1])
{
	const char	*p[10];
	char		 name[96], addr[160];

	uuid7_new_str(id);
	(void)snprintf(name, sizeof(name), round ? "%s %d" : "%s",
	    seed_companies[i].name, round + 1);
	(void)snprintf(addr, sizeof(addr), "{\"city\": \"%s\"}",
	    seed_companies[i].city);
	p[0] = s->demo_id;
	p[1] = id;
	p[2] = name;
	p[3] = seed_companies[i].domain;
	p[4] = seed_companies[i].industry;
	p[5] = seed_companies[i].employees;
	p[6] = seed_companies[i].revenue;
	p[7] = addr;
	p[8] = owner;
	p[9] = parent;
	return (ctl_exec(s->conn, "seed-demo accounts", "INSERT INTO "
	    "crm.accounts (tenant_id, id, name, domain, industry, employees, "
	    "annual_revenue, currency, billing_address, parent_id, owner_id, "
	    "created_by, updated_by) VALUES ($1, $2, $3, $4, $5, $6, $7, "
	    "'USD', $8, $10, $9, $9, $9)", 10, p));
}

static int
seed_accounts(struct seed *s)
{
	const char	*p[1] = { s->demo_id };
	PGresult	*res;
	char		 owner[UUID_STRLEN + 1], first[UUID_STRLEN + 1];
	char		 id[UUID_STRLEN + 1];
	size_t		 i, n = sizeof(seed_companies) / sizeof(seed_companies[0]);
	int		 r, made = 0;

	if (ctl_exec(s->conn, "seed-demo", "BEGIN", 0, NULL) == -1 ||
	    ctl_exec(s->conn, "seed-demo", "SELECT set_config("
	    "'app.tenant_id', $1, true)", 1, p) == -1 ||
	    (res = ctl_query(s->conn, "seed-demo accounts", "SELECT "
	    "(SELECT count(*) FROM crm.accounts WHERE tenant_id = $1), "
	    "(SELECT u.id FROM crm.users u JOIN crm.roles r ON r.tenant_id = "
	    "u.tenant_id AND r.id = u.role_id WHERE u.tenant_id = $1 AND "
	    "r.name = 'owner' ORDER BY u.id LIMIT 1)", 1, p)) == NULL) {
		ctl_rollback(s->conn);
		return (-1);
	}
	r = atoi(PQgetvalue(res, 0, 0));
	(void)snprintf(owner, sizeof(owner), "%s", PQgetvalue(res, 0, 1));
	PQclear(res);
	/* The last company of each round is a subsidiary of the first. */
	for (i = 0; r == 0 && i < n * (size_t)s->scale; i++, made++) {
		if (seed_account(s, owner, (int)(i % n), (int)(i / n),
		    i % n == n - 1 ? first : NULL, id) == -1) {
			ctl_rollback(s->conn);
			return (-1);
		}
		if (i % n == 0)
			(void)snprintf(first, sizeof(first), "%s", id);
	}
	if (ctl_exec(s->conn, "seed-demo", "COMMIT", 0, NULL) == -1)
		return (-1);
	printf("accounts %d %s\n", r ? r : made, r ? "exist" : "created");
	return (0);
}

/*
 * Volume: every demo tenant gets SEED_PER_SCALE records per --scale of
 * each entity below, generated by PostgreSQL itself (INSERT ... SELECT
 * over generate_series: no round trip per row), with names, amounts and
 * dates spread the way real data is, owned by the tenant's owner and
 * three sales users.  The entities' own triggers run (stage history,
 * probability from the stage, activity links, timeline), so the rows are
 * exactly what the API would have written.  Written once per tenant: a
 * tenant with contacts already is left alone.  --tenants 1000 --scale 10
 * makes 1,000 tenants and 5,000,000 records (the benchmark's data).
 *
 * Parameters of every statement: $1 tenant, $2 the owners (uuid[]), $3
 * how many.
 */
#define SEED_OWNER(g)	"($2::uuid[])[1 + (" g ") % cardinality($2::uuid[])]"

static const char	seed_bulk_accounts[] =
	"INSERT INTO crm.accounts (tenant_id, id, name, domain, industry, "
	"employees, annual_revenue, currency, phone, website, "
	"billing_address, owner_id, created_by, updated_by, created_at) "
	"SELECT $1, crm.uuid7(), w.a || ' ' || w.n || ' ' || g, "
	"lower(w.a || w.n) || g || '.example', (ARRAY['Software', "
	"'Manufacturing', 'Retail', 'Healthcare', 'Finance', 'Logistics', "
	"'Energy', 'Education', 'Media', 'Hospitality'])[1 + g % 10], "
	"(g * 37) % 5000 + 1, ((g * 7919) % 20000000)::numeric * 10, "
	"(ARRAY['USD', 'EUR', 'GBP'])[1 + g % 3], '+1 555 ' || "
	"lpad((g % 10000)::text, 4, '0'), 'https://www.' || lower(w.a || w.n) "
	"|| g || '.example/', jsonb_build_object('city', (ARRAY['Austin', "
	"'Berlin', 'Boston', 'Lisbon', 'Lyon', 'Osaka', 'Oslo', "
	"'Toronto'])[1 + g % 8], 'country', 'US'), o.id, o.id, o.id, "
	"now() - (g % 700) * interval '1 day' FROM generate_series(1, $3) g "
	"CROSS JOIN LATERAL (SELECT (ARRAY['Blue', 'Bright', 'Global', "
	"'North', 'Prime', 'Rapid', 'Silver', 'Smart', 'United', "
	"'Vertex'])[1 + g % 10] AS a, (ARRAY['Analytics', 'Dynamics', "
	"'Foods', 'Labs', 'Logistics', 'Media', 'Motors', 'Systems', "
	"'Partners', 'Works'])[1 + (g / 10) % 10] AS n) w CROSS JOIN LATERAL "
	"(SELECT " SEED_OWNER("g") " AS id) o";

#define SEED_FIRST	"(ARRAY['Ada', 'Ben', 'Chloe', 'David', 'Emma', "	\
	"'Farid', 'Grace', 'Hugo', 'Ines', 'Jonas', 'Kira', 'Liam', "	\
	"'Maya', 'Noah', 'Olga', 'Pablo', 'Quinn', 'Rosa', 'Sven', "	\
	"'Tara'])[1 + g % 20]"
#define SEED_LAST	"(ARRAY['Alvarez', 'Becker', 'Chen', 'Dubois', "	\
	"'Eriksen', 'Fischer', 'Garcia', 'Haddad', 'Ito', 'Jensen', "	\
	"'Kowalski', 'Larsen', 'Moreau', 'Nakamura', 'Okafor', "	\
	"'Petrov', 'Rossi', 'Silva', 'Tanaka', 'Weber'])[1 + (g / 20) % 20]"

static const char	seed_bulk_contacts[] =
	"WITH a AS (SELECT array_agg(id) AS ids FROM crm.accounts WHERE "
	"tenant_id = $1) INSERT INTO crm.contacts (tenant_id, id, first_name, "
	"last_name, email, phone, title, account_id, preferred_channel, "
	"do_not_email, owner_id, created_by, updated_by) SELECT $1, "
	"crm.uuid7(), " SEED_FIRST ", " SEED_LAST ", lower(" SEED_FIRST
	" || '.' || " SEED_LAST ") || g || '@example.com', '+1 555 ' || "
	"lpad(((g * 13) % 10000)::text, 4, '0'), (ARRAY['CEO', 'CTO', "
	"'Buyer', 'Engineer', 'Office Manager', 'Head of Sales', "
	"'Controller', 'Designer'])[1 + g % 8], a.ids[1 + g % "
	"cardinality(a.ids)], (ARRAY['email', 'phone', 'mobile'])[1 + g % 3], "
	"g % 17 = 0, " SEED_OWNER("g") ", " SEED_OWNER("g") ", " SEED_OWNER("g")
	" FROM generate_series(1, $3) g, a";

static const char	seed_bulk_leads[] =
	"INSERT INTO crm.leads (tenant_id, id, first_name, last_name, "
	"company, email, phone, source, status, rating, owner_id, created_by, "
	"updated_by) SELECT $1, crm.uuid7(), " SEED_FIRST ", " SEED_LAST ", "
	"(ARRAY['Acorn', 'Birch', 'Cedar', 'Delta', 'Ember'])[1 + g % 5] || "
	"' ' || (ARRAY['Studio', 'Group', 'GmbH', 'Ltd', 'Inc'])[1 + (g / 5) "
	"% 5] || ' ' || g, 'lead' || g || '@' || lower((ARRAY['acorn', "
	"'birch', 'cedar', 'delta', 'ember'])[1 + g % 5]) || '.example', "
	"'+1 555 ' || lpad(((g * 29) % 10000)::text, 4, '0'), "
	"(ARRAY['web', 'referral', 'event', 'ads', 'partner'])[1 + g % 5], "
	"(ARRAY['new', 'working', 'qualified', 'unqualified'])[1 + g % 4], "
	"(ARRAY['hot', 'warm', 'cold'])[1 + g % 3], " SEED_OWNER("g") ", "
	SEED_OWNER("g") ", " SEED_OWNER("g") " FROM generate_series(1, $3) g";

static const char	seed_bulk_deals[] =
	"WITH a AS (SELECT array_agg(id) AS ids FROM crm.accounts WHERE "
	"tenant_id = $1), p AS (SELECT p.id, array_agg(s.id ORDER BY "
	"s.position) AS stages, array_agg(s.probability ORDER BY s.position) "
	"AS prob, array_agg(s.kind ORDER BY s.position) AS kind FROM "
	"crm.pipelines p JOIN crm.stages s ON s.tenant_id = p.tenant_id AND "
	"s.pipeline_id = p.id WHERE p.tenant_id = $1 AND p.is_default GROUP "
	"BY p.id) INSERT INTO crm.deals (tenant_id, id, name, account_id, "
	"pipeline_id, stage_id, probability, closed_at, amount, currency, "
	"expected_close_date, source, next_step, owner_id, created_by, "
	"updated_by) SELECT $1, crm.uuid7(), (ARRAY['Licences', 'Renewal', "
	"'Pilot', 'Expansion', 'Support plan', 'Onboarding'])[1 + g % 6] || "
	"' ' || g, a.ids[1 + g % cardinality(a.ids)], p.id, p.stages[1 + "
	"(g * 7) % cardinality(p.stages)], p.prob[1 + (g * 7) % "
	"cardinality(p.stages)], CASE WHEN p.kind[1 + (g * 7) % "
	"cardinality(p.stages)] <> 'open' THEN now() END, ((g * 7919) % "
	"250000 + 500)::numeric, 'USD', current_date + (g % 240 - 60), "
	"(ARRAY['web', 'referral', 'event', 'outbound', 'partner'])[1 + g % 5]"
	", 'Call back in week ' || (g % 52 + 1), " SEED_OWNER("g") ", "
	SEED_OWNER("g") ", " SEED_OWNER("g") " FROM generate_series(1, $3) g, "
	"a, p";

static const char	seed_bulk_activities[] =
	"WITH d AS (SELECT array_agg(id) AS ids FROM crm.deals WHERE "
	"tenant_id = $1) INSERT INTO crm.activities (tenant_id, id, type, "
	"subject, status, due_at, starts_at, ends_at, related, owner_id, "
	"created_by, updated_by, completed_at) SELECT $1, crm.uuid7(), "
	"t.type, initcap(t.type) || ' about deal ' || g, CASE WHEN g % 3 = 0 "
	"THEN 'completed' ELSE 'open' END, CASE WHEN t.type <> 'meeting' THEN "
	"date_trunc('hour', now()) + (g % 60 - 30) * interval '1 day' END, "
	"CASE WHEN t.type = 'meeting' THEN date_trunc('hour', now()) + "
	"(g % 60 - 30) * interval '1 day' + (g % 8) * interval '1 hour' END, "
	"CASE WHEN t.type = 'meeting' THEN date_trunc('hour', now()) + "
	"(g % 60 - 30) * interval '1 day' + (g % 8 + 1) * interval '1 hour' "
	"END, jsonb_build_array(jsonb_build_object('entity', 'deals', 'id', "
	"d.ids[1 + g % cardinality(d.ids)])), " SEED_OWNER("g") ", "
	SEED_OWNER("g") ", " SEED_OWNER("g") ", CASE WHEN g % 3 = 0 THEN "
	"now() END FROM generate_series(1, $3) g "
	"CROSS JOIN d CROSS JOIN LATERAL (SELECT (ARRAY['task', 'call', "
	"'meeting', 'email', 'note'])[1 + g % 5] AS type) t";

/*
 * What the deals' and activities' row triggers derive (they stand aside
 * during the bulk load, sql/014 and 015): stage history, activity links.
 */
static const char	seed_bulk_derived[] =
	"WITH h AS (INSERT INTO crm.deal_stage_history (tenant_id, id, "
	"deal_id, pipeline_id, to_stage_id, changed_at, changed_by, amount, "
	"probability) SELECT tenant_id, crm.uuid7(), id, pipeline_id, "
	"stage_id, created_at, created_by, amount, probability FROM crm.deals "
	"d WHERE tenant_id = $1 AND NOT EXISTS (SELECT 1 FROM "
	"crm.deal_stage_history x WHERE x.tenant_id = $1 AND x.deal_id = d.id) "
	"RETURNING 1) INSERT INTO crm.activity_links (tenant_id, activity_id, "
	"entity, record_id) SELECT a.tenant_id, a.id, r->>'entity', "
	"(r->>'id')::uuid FROM crm.activities a, jsonb_array_elements("
	"a.related) r WHERE a.tenant_id = $1 ON CONFLICT DO NOTHING";

/* In order: later statements pick ids from earlier ones' rows. */
static const struct {
	const char	*table;
	int		 per_scale;
	const char	*sql;
} seed_bulk[] = {
	{ "crm.accounts",	50,	seed_bulk_accounts },
	{ "crm.contacts",	150,	seed_bulk_contacts },
	{ "crm.leads",		50,	seed_bulk_leads },
	{ "crm.deals",		100,	seed_bulk_deals },
	{ "crm.activities",	150,	seed_bulk_activities },
};

#define SEED_NBULK	(sizeof(seed_bulk) / sizeof(seed_bulk[0]))

static uint64_t	seed_bulk_us[SEED_NBULK];	/* time per entity */

/* The tenant's owner (and, for tenants other than demo, its users). */
static int
seed_bulk_users(struct seed *s, const char *tenant, const char *slug,
    int demo, char *owners, size_t len)
{
	const char	*p[4];
	char		 email[128], id[UUID_STRLEN + 1];
	PGresult	*res;
	int		 i;

	if (seed_roles(s->conn, tenant) == -1)
		return (-1);
	for (i = 0; !demo && i < 4; i++) {
		if (i == 0)
			(void)snprintf(email, sizeof(email), "owner@%s.example",
			    slug);
		else
			(void)snprintf(email, sizeof(email), "sales%d@%s.example",
			    i, slug);
		uuid7_new_str(id);
		p[0] = tenant;
		p[1] = id;
		p[2] = email;
		p[3] = s->hash;
		if ((i == 0 ? seed_owner_user(s->conn, tenant, email,
		    s->hash) : ctl_exec(s->conn, "seed-demo users",
		    "INSERT INTO crm.users (tenant_id, id, email, name, "
		    "password_hash, role_id) SELECT $1, $2, $3, 'Sales Rep', $4, "
		    "r.id FROM crm.roles r WHERE r.tenant_id = $1 AND r.name = "
		    "'sales' ON CONFLICT (tenant_id, email_lc) DO NOTHING", 4,
		    p)) == -1)
			return (-1);
	}
	p[0] = tenant;
	if ((res = ctl_query(s->conn, "seed-demo users", "SELECT "
	    "array_agg(id ORDER BY id)::text FROM crm.users WHERE tenant_id = "
	    "$1 AND status = 'active'", 1, p)) == NULL)
		return (-1);
	(void)snprintf(owners, len, "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	return (0);
}

/*
 * The timeline's "created" entry of every generated record, in one
 * statement per table: the per-row trigger stands aside during the bulk
 * load (crm.bulk_load, sql/018_timeline.sql), which is most of its cost.
 */
static int
seed_bulk_timeline(struct seed *s, const char *tenant, const int *have)
{
	const char	*p[1] = { tenant };
	char		 sql[512];
	size_t		 k;

	for (k = 0; k < SEED_NBULK; k++) {
		if (!have[k])
			continue;
		(void)snprintf(sql, sizeof(sql), "INSERT INTO crm.timeline "
		    "(tenant_id, id, entity, record_id, actor_id, action, at) "
		    "SELECT tenant_id, crm.uuid7(), '%s', id, created_by, "
		    "'created', created_at FROM %s r WHERE tenant_id = $1 AND "
		    "NOT EXISTS (SELECT 1 FROM crm.timeline t WHERE "
		    "t.tenant_id = $1 AND t.entity = '%s' AND t.record_id = "
		    "r.id)", seed_bulk[k].table + 4, seed_bulk[k].table,
		    seed_bulk[k].table + 4);
		if (ctl_exec(s->conn, "seed-demo timeline", sql, 1, p) == -1)
			return (-1);
	}
	return (0);
}

/* The generated records of one tenant, in one transaction. */
static int
seed_bulk_tenant(struct seed *s, int i, const int *have, long *made)
{
	const char	*p[3];
	char		 slug[SLUG_MAX + 1], id[UUID_STRLEN + 1];
	char		 owners[512], n[16];
	PGresult	*res;
	size_t		 k;
	uint64_t	 t0;
	int		 skip;

	(void)snprintf(slug, sizeof(slug), i == 1 ? "demo" : "demo-%d", i);
	if (tenant_lookup(s->conn, slug, id) != 1)
		return (-1);
	p[0] = id;
	if (ctl_exec(s->conn, "seed-demo", "BEGIN", 0, NULL) == -1 ||
	    ctl_exec(s->conn, "seed-demo", "SELECT set_config("
	    "'app.tenant_id', $1, true)", 1, p) == -1 ||
	    seed_bulk_users(s, id, slug, i == 1, owners, sizeof(owners)) == -1 ||
	    (res = ctl_query(s->conn, "seed-demo", "SELECT count(*) FROM "
	    "crm.accounts WHERE tenant_id = $1", 1, p)) == NULL) {
		ctl_rollback(s->conn);
		return (-1);
	}
	skip = atoi(PQgetvalue(res, 0, 0)) > (i == 1 ? SEED_NCOMPANIES *
	    s->scale : 0);
	PQclear(res);
	if (!skip && ctl_exec(s->conn, "seed-demo", "SELECT set_config("
	    "'crm.bulk_load', 'on', true)", 0, NULL) == -1) {
		ctl_rollback(s->conn);
		return (-1);
	}
	p[1] = owners;
	p[2] = n;
	for (k = 0; !skip && k < SEED_NBULK; k++) {
		if (!have[k])
			continue;
		(void)snprintf(n, sizeof(n), "%d", seed_bulk[k].per_scale *
		    s->scale);
		t0 = crm_now_us();
		if (ctl_exec(s->conn, "seed-demo bulk", seed_bulk[k].sql, 3,
		    p) == -1) {
			ctl_rollback(s->conn);
			return (-1);
		}
		seed_bulk_us[k] += crm_now_us() - t0;
		*made += seed_bulk[k].per_scale * s->scale;
	}
	if (!skip && have[3] && have[4] && ctl_exec(s->conn, "seed-demo "
	    "derived", seed_bulk_derived, 1, p) == -1) {
		ctl_rollback(s->conn);
		return (-1);
	}
	if (!skip && seed_bulk_timeline(s, id, have) == -1) {
		ctl_rollback(s->conn);
		return (-1);
	}
	/* The record triggers skip bulk loads: count the tenant once. */
	if (!skip && ctl_exec(s->conn, "seed-demo records", "SELECT "
	    "crm.records_recount($1)", 1, p) == -1) {
		ctl_rollback(s->conn);
		return (-1);
	}
	return (ctl_exec(s->conn, "seed-demo", "COMMIT", 0, NULL));
}

static int
seed_bulk_run(struct seed *s)
{
	const char	*p[1];
	PGresult	*res;
	int		 have[SEED_NBULK], i;
	size_t		 k;
	long		 made = 0;
	uint64_t	 t0 = crm_now_ms();

	for (k = 0; k < SEED_NBULK; k++) {
		p[0] = seed_bulk[k].table;
		if ((res = ctl_query(s->conn, "seed-demo", "SELECT "
		    "to_regclass($1) IS NOT NULL", 1, p)) == NULL)
			return (-1);
		have[k] = PQgetvalue(res, 0, 0)[0] == 't';
		PQclear(res);
	}
	for (i = 1; i <= s->tenants; i++) {
		if (seed_bulk_tenant(s, i, have, &made) == -1)
			return (-1);
		if (i % 100 == 0)
			printf("bulk   %d of %d tenants, %ld records\n", i,
			    s->tenants, made);
	}
	for (k = 0; k < SEED_NBULK; k++)
		if (have[k] && seed_bulk_us[k] > 0)
			printf("bulk   %-16s %8.1f s\n", seed_bulk[k].table,
			    seed_bulk_us[k] / 1e6);
	printf("bulk   %ld records created in %d tenants (%.1f s); users "
	    "owner@demo-N.example and sales1..3@demo-N.example share the demo "
	    "password\n", made, s->tenants, (crm_now_ms() - t0) / 1000.0);
	return (0);
}

static const struct seed_step seed_steps[] = {
	{ "tenants", seed_tenants },
	{ "owner", seed_owner },
	{ "accounts", seed_accounts },
	{ "bulk", seed_bulk_run },
};

static const char seed_usage[] =
    "usage: crmctl seed-demo [--tenants N] [--scale S]\n"
    "  Creates the demo tenant (slug demo, \"Demo Company\", plan business,\n"
    "  active) and N-1 more (demo-2 ...), skipping what exists; S scales\n"
    "  the demo data of later steps.  N: 1..1000 (1), S: 1..1000 (1).\n"
    "  Uses " OWNER_URL_ENV ".\n";

static int
cmd_seed_demo(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "tenants", required_argument, NULL, 't' },
		{ "scale", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct seed	 s = { NULL, 1, 1, "", "" };
	size_t		 i;
	int		 ch;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 't':
			if (ctl_int(optarg, 1, 1000, &s.tenants) == -1)
				return (ctl_usage("seed-demo", seed_usage,
				    "--tenants must be 1..1000"));
			break;
		case 's':
			if (ctl_int(optarg, 1, 1000, &s.scale) == -1)
				return (ctl_usage("seed-demo", seed_usage,
				    "--scale must be 1..1000"));
			break;
		case 'h':
			fputs(seed_usage, stdout);
			return (CTL_OK);
		default:
			return (ctl_badopt("seed-demo", seed_usage, argv));
		}
	}
	if (optind != argc)
		return (ctl_usage("seed-demo", seed_usage,
		    "unexpected argument: %s", argv[optind]));
	if ((s.conn = ctl_connect(OWNER_URL_ENV)) == NULL)
		return (CTL_ERR);
	for (i = 0; i < sizeof(seed_steps) / sizeof(seed_steps[0]); i++) {
		if (seed_steps[i].fn(&s) == -1) {
			fprintf(stderr, "crmctl: seed-demo: step %s failed\n",
			    seed_steps[i].name);
			PQfinish(s.conn);
			return (CTL_ERR);
		}
	}
	PQfinish(s.conn);
	return (CTL_OK);
}

/* ------------------------------------------------------------- migrate */

/*
 * A migration is a file NNN_name.sql (digits, underscore, [a-z0-9_],
 * ".sql"); its number is its version.  Versions run 1, 2, 3 ... without
 * gaps.  Other files in the directory (roles.sql, README) are not
 * migrations; a file that starts with a digit but is named otherwise is an
 * error, so a typo cannot hide a migration.
 */
struct mig {
	int	 version;
	char	*name;			/* file name */
	char	*sql;			/* its text */
	size_t	 len;
	char	 sum[EVP_MAX_MD_SIZE * 2 + 1];	/* sha256, hex */
	int	 applied;
	char	*applied_at;
};

struct migset {
	const char	*dir;
	struct mig	*v;
	size_t		 n;
	int		 problems;	/* inconsistencies, all printed */
};

/* 1 and the version for a migration's name, 0 not one, -1 misnamed. */
static int
mig_name_parse(const char *name, int *version)
{
	const char	*p = name;
	size_t		 len = strlen(name), digits = 0;
	long		 v = 0;

	if (!isdigit((unsigned char)name[0]))
		return (0);
	for (; isdigit((unsigned char)*p) && digits < 9; p++, digits++)
		v = v * 10 + (*p - '0');
	if (digits < 3 || *p++ != '_' || len < 5 ||
	    strcmp(name + len - 4, ".sql") != 0 || p >= name + len - 4)
		return (-1);
	for (; p < name + len - 4; p++)
		if (!(islower((unsigned char)*p) ||
		    isdigit((unsigned char)*p) || *p == '_'))
			return (-1);
	if (v < 1)
		return (-1);
	*version = (int)v;
	return (1);
}

static int
mig_sha256(const void *data, size_t len, char *hex)
{
	unsigned char	md[EVP_MAX_MD_SIZE];
	unsigned int	mdlen, i;

	if (EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) != 1)
		return (-1);
	for (i = 0; i < mdlen; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	return (0);
}

/* Reads a migration file whole; a NUL byte would end PQexec's text. */
static int
mig_read(const char *dir, struct mig *m)
{
	struct buf	 b;
	char		 path[PATH_MAX], chunk[8192];
	size_t		 n;
	FILE		*fp;

	snprintf(path, sizeof(path), "%s/%s", dir, m->name);
	if ((fp = fopen(path, "r")) == NULL) {
		fprintf(stderr, "crmctl: migrate: %s: %s\n", path,
		    strerror(errno));
		return (-1);
	}
	buf_init(&b, sizeof(chunk));
	while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0)
		buf_append(&b, chunk, n);
	if (ferror(fp) || memchr(b.data, '\0', b.len) != NULL ||
	    mig_sha256(b.data, b.len, m->sum) == -1) {
		fprintf(stderr, "crmctl: migrate: %s: unreadable, or not "
		    "text\n", path);
		fclose(fp);
		buf_free(&b);
		return (-1);
	}
	fclose(fp);
	m->len = b.len;
	m->sql = xstrndup(b.data, b.len);
	buf_free(&b);
	return (0);
}

static int
mig_cmp(const void *a, const void *b)
{
	const struct mig	*x = a, *y = b;

	return ((x->version > y->version) - (x->version < y->version));
}

static void
migset_free(struct migset *ms)
{
	size_t		i;

	for (i = 0; i < ms->n; i++) {
		xfree(ms->v[i].name);
		xfree(ms->v[i].sql);
		xfree(ms->v[i].applied_at);
	}
	xfree(ms->v);
	ms->v = NULL;
	ms->n = 0;
}

/* The directory's migrations, sorted; -1 if unreadable or misnamed. */
static int
mig_scan(struct migset *ms)
{
	struct dirent	*de;
	DIR		*d;
	int		 rc = 0, r, version;

	if ((d = opendir(ms->dir)) == NULL) {
		fprintf(stderr, "crmctl: migrate: %s: %s\n", ms->dir,
		    strerror(errno));
		return (-1);
	}
	while ((de = readdir(d)) != NULL) {
		if ((r = mig_name_parse(de->d_name, &version)) == 0)
			continue;
		if (r == -1) {
			fprintf(stderr, "crmctl: migrate: %s/%s: a migration "
			    "is named NNN_name.sql ([a-z0-9_])\n", ms->dir,
			    de->d_name);
			rc = -1;
			continue;
		}
		ms->v = xrealloc(ms->v, (ms->n + 1) * sizeof(*ms->v));
		memset(&ms->v[ms->n], 0, sizeof(*ms->v));
		ms->v[ms->n].version = version;
		ms->v[ms->n].name = xstrdup(de->d_name);
		if (mig_read(ms->dir, &ms->v[ms->n++]) == -1)
			rc = -1;
	}
	closedir(d);
	qsort(ms->v, ms->n, sizeof(*ms->v), mig_cmp);
	return (rc);
}

/* Versions must be exactly 1..n: no duplicate, no gap. */
static void
mig_check_numbering(struct migset *ms)
{
	size_t		i;

	for (i = 0; i < ms->n; i++) {
		if (ms->v[i].version == (int)i + 1)
			continue;
		ms->problems++;
		if (i > 0 && ms->v[i].version == ms->v[i - 1].version)
			fprintf(stderr, "crmctl: migrate: %s and %s have the "
			    "same number\n", ms->v[i - 1].name,
			    ms->v[i].name);
		else
			fprintf(stderr, "crmctl: migrate: migration %zu is "
			    "missing (next is %s): numbers have no gaps\n",
			    i + 1, ms->v[i].name);
		return;
	}
}

static struct mig *
mig_find(struct migset *ms, int version)
{
	size_t		i;

	for (i = 0; i < ms->n; i++)
		if (ms->v[i].version == version)
			return (&ms->v[i]);
	return (NULL);
}

/* One row of schema_migrations against the files. */
static void
mig_match_row(struct migset *ms, int version, const char *name,
    const char *sum, const char *at)
{
	struct mig	*m;

	if ((m = mig_find(ms, version)) == NULL) {
		fprintf(stderr, "crmctl: migrate: applied migration %s has "
		    "no file in %s\n", name, ms->dir);
		ms->problems++;
	} else if (strcmp(m->name, name) != 0) {
		fprintf(stderr, "crmctl: migrate: migration %d was applied "
		    "as %s but the file is now %s\n", version, name, m->name);
		ms->problems++;
	} else if (strcmp(m->sum, sum) != 0) {
		fprintf(stderr, "crmctl: migrate: %s/%s changed after it was "
		    "applied (sha256 %.12s..., applied %.12s...): write a new "
		    "migration instead\n", ms->dir, name, m->sum, sum);
		ms->problems++;
	}
	if (m != NULL) {
		m->applied = 1;
		m->applied_at = xstrdup(at);
	}
}

/*
 * Reads what is applied and checks it against the files: every applied
 * version has its unchanged file, and nothing pending sorts before an
 * applied version.  Problems are counted in ms->problems and all printed.
 */
static int
mig_load_applied(PGconn *conn, struct migset *ms)
{
	PGresult	*res;
	int		 i, version, max = 0;
	size_t		 j;

	res = ctl_query(conn, "migrate: reading crm_meta.schema_migrations",
	    "SELECT version, name, checksum, "
	    "to_char(applied_at AT TIME ZONE 'UTC', "
	    "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') "
	    "FROM crm_meta.schema_migrations ORDER BY version", 0, NULL);
	if (res == NULL)
		return (-1);
	for (i = 0; i < PQntuples(res); i++) {
		version = atoi(PQgetvalue(res, i, 0));
		mig_match_row(ms, version, PQgetvalue(res, i, 1),
		    PQgetvalue(res, i, 2), PQgetvalue(res, i, 3));
		if (version > max)
			max = version;
	}
	PQclear(res);
	for (j = 0; j < ms->n; j++) {
		if (ms->v[j].applied || ms->v[j].version > max)
			continue;
		fprintf(stderr, "crmctl: migrate: %s is not applied but "
		    "migration %d is: refusing to run out of order\n",
		    ms->v[j].name, max);
		ms->problems++;
	}
	return (0);
}

/* The 1-based line of character position `pos` (UTF-8) in `sql`. */
static int
mig_line_of(const char *sql, long pos)
{
	int		line = 1;
	long		chars = 0;

	for (; *sql != '\0' && chars < pos - 1; sql++) {
		if (((unsigned char)*sql & 0xc0) != 0x80)
			chars++;
		if (*sql == '\n')
			line++;
	}
	return (line);
}

static void
mig_report(PGconn *conn, const struct mig *m, const PGresult *res)
{
	const char	*pos, *ctx;

	pos = PQresultErrorField(res, PG_DIAG_STATEMENT_POSITION);
	ctx = PQresultErrorField(res, PG_DIAG_CONTEXT);
	if (pos != NULL)
		fprintf(stderr, "crmctl: migrate: %s, line %d:\n", m->name,
		    mig_line_of(m->sql, atol(pos)));
	ctl_pgerr(m->name, conn, res);
	if (ctx != NULL)
		fprintf(stderr, "crmctl: context: %s\n", ctx);
}

/*
 * One migration and its schema_migrations row in one transaction.  The
 * file is sent as one simple query (many statements); a file that ends
 * the transaction itself (COMMIT) is refused, though what it committed
 * stays: migrations never contain transaction control.
 */
static int
mig_apply(PGconn *conn, const struct mig *m)
{
	PGresult	*res;
	const char	*p[3];
	char		 version[16];
	uint64_t	 t0 = crm_now_ms();
	ExecStatusType	 st;

	if (ctl_exec(conn, "migrate: begin", "BEGIN", 0, NULL) == -1)
		return (-1);
	res = PQexec(conn, m->sql);
	st = PQresultStatus(res);
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK &&
	    st != PGRES_EMPTY_QUERY) {
		mig_report(conn, m, res);
		PQclear(res);
		ctl_rollback(conn);
		return (-1);
	}
	PQclear(res);
	if (PQtransactionStatus(conn) != PQTRANS_INTRANS) {
		fprintf(stderr, "crmctl: migrate: %s ended its transaction "
		    "itself: remove BEGIN/COMMIT from it\n", m->name);
		ctl_rollback(conn);
		return (-1);
	}
	snprintf(version, sizeof(version), "%d", m->version);
	p[0] = version;
	p[1] = m->name;
	p[2] = m->sum;
	if (ctl_exec(conn, "migrate: recording", "INSERT INTO "
	    "crm_meta.schema_migrations (version, name, checksum) "
	    "VALUES ($1, $2, $3)", 3, p) == -1 ||
	    ctl_exec(conn, "migrate: commit", "COMMIT", 0, NULL) == -1) {
		ctl_rollback(conn);
		return (-1);
	}
	printf("applied %s (%llu ms)\n", m->name,
	    (unsigned long long)(crm_now_ms() - t0));
	return (0);
}

/*
 * crmctl's own bookkeeping, made before the first migration (which could
 * not otherwise be recorded as applied).  Under the advisory lock, so two
 * first runs do not race on it.
 */
static int
mig_bootstrap(PGconn *conn)
{
	if (ctl_exec(conn, "migrate: creating crm_meta",
	    "CREATE SCHEMA IF NOT EXISTS crm_meta", 0, NULL) == -1)
		return (-1);
	return (ctl_exec(conn, "migrate: creating crm_meta.schema_migrations",
	    "CREATE TABLE IF NOT EXISTS crm_meta.schema_migrations ("
	    " version int PRIMARY KEY CHECK (version > 0),"
	    " name text NOT NULL,"
	    " checksum text NOT NULL,"
	    " applied_at timestamptz NOT NULL DEFAULT now())", 0, NULL));
}

/* Refuses a superuser (it bypasses FORCE RLS) or any role but the owner. */
static int
mig_check_role(PGconn *conn)
{
	PGresult	*res;
	int		 ok;

	res = ctl_query(conn, "migrate: role check",
	    "SELECT current_user, rolsuper FROM pg_roles "
	    "WHERE rolname = current_user", 0, NULL);
	if (res == NULL)
		return (-1);
	ok = PQntuples(res) == 1 &&
	    strcmp(PQgetvalue(res, 0, 0), OWNER_ROLE) == 0 &&
	    strcmp(PQgetvalue(res, 0, 1), "f") == 0;
	if (!ok)
		fprintf(stderr, "crmctl: migrate: " OWNER_URL_ENV " connects "
		    "as %s%s; migrations run as " OWNER_ROLE ", never as a "
		    "superuser (sql/roles.sql creates it)\n",
		    PQntuples(res) == 1 ? PQgetvalue(res, 0, 0) : "?",
		    PQntuples(res) == 1 && PQgetvalue(res, 0, 1)[0] == 't' ?
		    " (a superuser)" : "");
	PQclear(res);
	return (ok ? 0 : -1);
}

/*
 * Session-level advisory lock, released when the connection closes: a
 * second migrator waits here, then finds the work done.  Then lock_timeout
 * so a migration waiting behind a long transaction fails instead of
 * queueing every request of the service behind its own lock.
 */
static int
mig_lock(PGconn *conn)
{
	PGresult	*res;
	const char	*p[1] = { MIGRATE_LOCK_KEY };
	int		 got;

	res = ctl_query(conn, "migrate: lock",
	    "SELECT pg_try_advisory_lock($1::bigint)", 1, p);
	if (res == NULL)
		return (-1);
	got = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	if (!got) {
		fprintf(stderr, "crmctl: migrate: waiting for another "
		    "crmctl migrate\n");
		if (ctl_exec(conn, "migrate: lock",
		    "SELECT pg_advisory_lock($1::bigint)", 1, p) == -1)
			return (-1);
	}
	return (ctl_exec(conn, "migrate: session setup",
	    "SET lock_timeout = '30s'", 0, NULL));
}

static void
mig_print_status(const struct migset *ms)
{
	size_t		i;
	int		pending = 0;

	for (i = 0; i < ms->n; i++) {
		if (ms->v[i].applied)
			printf("%-32s applied %s\n", ms->v[i].name,
			    ms->v[i].applied_at);
		else {
			printf("%-32s pending\n", ms->v[i].name);
			pending++;
		}
	}
	printf("migrate: %zu migrations, %d pending, %d problems\n", ms->n,
	    pending, ms->problems);
}

/* --status: read-only, no lock, nothing created. */
static int
mig_status(PGconn *conn, struct migset *ms)
{
	PGresult	*res;
	int		 exists;

	res = ctl_query(conn, "migrate: status", "SELECT to_regclass("
	    "'crm_meta.schema_migrations') IS NOT NULL", 0, NULL);
	if (res == NULL)
		return (CTL_ERR);
	exists = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	if (exists && mig_load_applied(conn, ms) == -1)
		return (CTL_ERR);
	mig_print_status(ms);
	return (ms->problems == 0 ? CTL_OK : CTL_ERR);
}

static int
mig_run(PGconn *conn, struct migset *ms)
{
	size_t		i;
	int		applied = 0;

	if (mig_check_role(conn) == -1 || mig_lock(conn) == -1 ||
	    mig_bootstrap(conn) == -1 || mig_load_applied(conn, ms) == -1)
		return (CTL_ERR);
	if (ms->problems > 0) {
		fprintf(stderr, "crmctl: migrate: nothing applied (%d "
		    "problems)\n", ms->problems);
		return (CTL_ERR);
	}
	for (i = 0; i < ms->n; i++) {
		if (ms->v[i].applied)
			continue;
		if (mig_apply(conn, &ms->v[i]) == -1)
			return (CTL_ERR);
		applied++;
	}
	printf("migrate: %d applied now, %zu in all, up to date\n", applied,
	    ms->n);
	return (CTL_OK);
}

static const char migrate_usage[] =
    "usage: crmctl migrate [--dir DIR] [--status]\n"
    "  Applies DIR/NNN_name.sql (default DIR: sql) in order, each in its\n"
    "  own transaction with its row in crm_meta.schema_migrations, as\n"
    "  crm_owner (" OWNER_URL_ENV ").  Refuses to run if an applied file\n"
    "  changed or is missing, if numbers have gaps, or if a pending file\n"
    "  sorts before an applied one.  --status only reports.\n";

static int
cmd_migrate(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "status", no_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct migset	 ms = { "sql", NULL, 0, 0 };
	PGconn		*conn;
	int		 ch, status = 0, rc;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'd':
			ms.dir = optarg;
			break;
		case 's':
			status = 1;
			break;
		case 'h':
			fputs(migrate_usage, stdout);
			return (CTL_OK);
		default:
			return (ctl_badopt("migrate", migrate_usage, argv));
		}
	}
	if (optind != argc)
		return (ctl_usage("migrate", migrate_usage,
		    "unexpected argument: %s", argv[optind]));
	if (mig_scan(&ms) == -1) {
		migset_free(&ms);
		return (CTL_ERR);
	}
	mig_check_numbering(&ms);
	if ((conn = ctl_connect(OWNER_URL_ENV)) == NULL) {
		migset_free(&ms);
		return (CTL_ERR);
	}
	if (status)
		rc = mig_status(conn, &ms);
	else if (ms.problems > 0) {
		fprintf(stderr, "crmctl: migrate: nothing applied\n");
		rc = CTL_ERR;
	} else
		rc = mig_run(conn, &ms);
	PQfinish(conn);
	migset_free(&ms);
	return (rc);
}

/* -------------------------------------------------------- check-schema */

/*
 * The rules of SECURITY.md 3.1.5, checked on the live catalog (ISO-08).
 *
 * A tenant table is any table or partition, in any schema but the
 * system's, that has a tenant_id column or is not on the global list
 * below; extension-owned objects are skipped.  The two lists are the only
 * exceptions, each with its reason: adding to them is a design decision.
 */
struct schema_exception {
	const char	*name;
	const char	*why;
};

static const struct schema_exception schema_global_tables[] = {
	{ "crm.plans", "reference data, the same for every tenant" },
	{ "crm_meta.schema_migrations", "crmctl migrate's bookkeeping; "
	    "only the owner can reach crm_meta" },
};

static const struct schema_exception schema_global_keys[] = {
	{ "crm.tenants_slug_key", "a slug names a company at login, before "
	    "any tenant is known, so it is unique across tenants; whether a "
	    "slug is taken is public anyway (sign-up says so)" },
};

/*
 * The permissive policy the service roles may see, as PostgreSQL 15
 * prints it (pg_get_expr), i.e. what crm_meta.protect_tenant_table makes.
 */
#define TENANT_POLICY_EXPR						\
	"(tenant_id = (NULLIF(current_setting('app.tenant_id'::text, "	\
	"true), ''::text))::uuid)"

/*
 * Each check is one query over parameters $1 (the global tables), $2 (the
 * global unique keys) and $3 (the policy text); each row it returns is one
 * violation: (object, what is wrong).  `rels` is every table and
 * partition in scope, `tenant` tells whether the rules below apply.
 */
#define SCHEMA_RELS							\
	"WITH rels AS ("						\
	" SELECT c.oid, c.relispartition, c.relrowsecurity,"		\
	"  c.relforcerowsecurity, c.relowner, c.relacl,"		\
	"  a.attnum AS tid,"						\
	"  n.nspname || '.' || c.relname AS qname,"			\
	"  (a.attnum IS NOT NULL OR"					\
	"   n.nspname || '.' || c.relname <> ALL ($1)) AS tenant"	\
	" FROM pg_class c"						\
	" JOIN pg_namespace n ON n.oid = c.relnamespace"		\
	" LEFT JOIN pg_attribute a ON a.attrelid = c.oid"		\
	"  AND a.attname = 'tenant_id' AND NOT a.attisdropped"		\
	" WHERE c.relkind IN ('r', 'p')"				\
	"  AND n.nspname <> 'information_schema'"			\
	"  AND n.nspname !~ '^pg_'"					\
	"  AND NOT EXISTS (SELECT 1 FROM pg_depend d"			\
	"   WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid"	\
	"   AND d.deptype = 'e'))"					\
	" "

#define SCHEMA_APP_ROLES						\
	"(SELECT array_agg(oid) FROM pg_roles"				\
	" WHERE rolname IN ('crm_app', 'crm_worker'))"

/* Functions and other objects in scope: not system, not an extension's. */
#define SCHEMA_USER_NSP(n)						\
	n ".nspname <> 'information_schema' AND " n ".nspname !~ '^pg_'"

struct schema_check {
	const char	*name;
	const char	*sql;
};

static const struct schema_check schema_checks[] = {
	{ "global tables", SCHEMA_RELS
	    "SELECT qname, 'no tenant_id column, and not on the global "
	    "allow-list' FROM rels WHERE tid IS NULL AND tenant" },

	{ "tenant_id column", SCHEMA_RELS
	    "SELECT r.qname, format('tenant_id is column %s, must be the "
	    "first', (SELECT count(*) FROM pg_attribute x"
	    "  WHERE x.attrelid = r.oid AND x.attnum > 0"
	    "  AND x.attnum <= r.tid AND NOT x.attisdropped))"
	    " FROM rels r WHERE r.tenant AND r.tid IS NOT NULL"
	    " AND EXISTS (SELECT 1 FROM pg_attribute x"
	    "  WHERE x.attrelid = r.oid AND x.attnum > 0"
	    "  AND x.attnum < r.tid AND NOT x.attisdropped)"
	    " UNION ALL "
	    "SELECT r.qname, 'tenant_id must be uuid NOT NULL' FROM rels r"
	    " JOIN pg_attribute a ON a.attrelid = r.oid AND a.attnum = r.tid"
	    " WHERE a.atttypid <> 'uuid'::regtype OR NOT a.attnotnull" },

	{ "unique keys", SCHEMA_RELS
	    "SELECT r.qname, format('%s %s does not include tenant_id',"
	    "  coalesce((SELECT CASE k.contype WHEN 'p' THEN 'primary key'"
	    "   ELSE 'unique constraint' END FROM pg_constraint k"
	    "   WHERE k.conindid = i.indexrelid AND k.conrelid = r.oid"
	    "   AND k.contype IN ('p', 'u')), 'unique index'), ic.relname)"
	    " FROM rels r"
	    " JOIN pg_index i ON i.indrelid = r.oid AND i.indisunique"
	    " JOIN pg_class ic ON ic.oid = i.indexrelid"
	    " JOIN pg_namespace n ON n.oid = ic.relnamespace"
	    " WHERE r.tenant AND NOT ic.relispartition"
	    " AND (r.tid IS NULL OR r.tid <> ALL"
	    "  ((i.indkey::int2[])[0:i.indnkeyatts - 1]))"
	    " AND n.nspname || '.' || ic.relname <> ALL ($2)" },

	{ "foreign keys", SCHEMA_RELS
	    "SELECT r.qname, CASE WHEN NOT r.tenant"
	    "  THEN format('foreign key %s: a global table must not "
	    "reference tenant data (%s)', k.conname, f.qname)"
	    "  ELSE format('foreign key %s must pair tenant_id with "
	    "%s.tenant_id', k.conname, f.qname) END"
	    " FROM pg_constraint k"
	    " JOIN rels r ON r.oid = k.conrelid"
	    " JOIN rels f ON f.oid = k.confrelid"
	    " WHERE k.contype = 'f' AND k.conparentid = 0 AND f.tenant"
	    " AND (NOT r.tenant OR NOT EXISTS (SELECT 1"
	    "  FROM generate_subscripts(k.conkey, 1) s"
	    "  WHERE k.conkey[s] = r.tid AND k.confkey[s] = f.tid))" },

	{ "row level security", SCHEMA_RELS
	    "SELECT qname, concat_ws(', ',"
	    "  CASE WHEN NOT relrowsecurity THEN 'row level security not "
	    "enabled' END,"
	    "  CASE WHEN NOT relforcerowsecurity THEN 'row level security "
	    "not forced (the owner would bypass it)' END)"
	    " FROM rels WHERE tenant"
	    " AND NOT (relrowsecurity AND relforcerowsecurity)" },

	{ "tenant policy", SCHEMA_RELS
	    "SELECT r.qname, 'no FOR ALL policy with USING and WITH CHECK "
	    "for crm_app and crm_worker (crm_meta.protect_tenant_table)'"
	    " FROM rels r WHERE r.tenant AND NOT EXISTS (SELECT 1"
	    "  FROM pg_policy p WHERE p.polrelid = r.oid"
	    "  AND p.polpermissive AND p.polcmd = '*'"
	    "  AND p.polqual IS NOT NULL AND p.polwithcheck IS NOT NULL"
	    "  AND (0::oid = ANY (p.polroles) OR " SCHEMA_APP_ROLES
	    "   <@ p.polroles))" },

	{ "policy shape", SCHEMA_RELS
	    "SELECT r.qname, format('policy %s admits crm_app/crm_worker to "
	    "more than the tenant rule %s; narrow it AS RESTRICTIVE instead',"
	    "  p.polname, $3)"
	    " FROM rels r JOIN pg_policy p ON p.polrelid = r.oid"
	    " WHERE r.tenant AND p.polpermissive"
	    " AND (0::oid = ANY (p.polroles) OR " SCHEMA_APP_ROLES
	    "  && p.polroles)"
	    " AND (pg_get_expr(p.polqual, p.polrelid) <> $3"
	    "  OR pg_get_expr(p.polwithcheck, p.polrelid) <> $3)" },

	{ "grants", SCHEMA_RELS
	    "SELECT r.qname, format('%s granted to %s on a partition: grant "
	    "on the parent table only', a.privilege_type,"
	    "  CASE a.grantee WHEN 0 THEN 'PUBLIC'"
	    "  ELSE a.grantee::regrole::text END)"
	    " FROM rels r, aclexplode(r.relacl) a"
	    " WHERE r.relispartition AND a.grantee <> r.relowner"
	    " UNION ALL "
	    "SELECT r.qname, format('%s on column %s granted to %s on a "
	    "partition', a.privilege_type, x.attname,"
	    "  CASE a.grantee WHEN 0 THEN 'PUBLIC'"
	    "  ELSE a.grantee::regrole::text END)"
	    " FROM rels r JOIN pg_attribute x ON x.attrelid = r.oid,"
	    " aclexplode(x.attacl) a"
	    " WHERE r.relispartition AND a.grantee <> r.relowner"
	    " UNION ALL "
	    "SELECT r.qname, format('%s granted to PUBLIC', a.privilege_type)"
	    " FROM rels r, aclexplode(r.relacl) a"
	    " WHERE NOT r.relispartition AND a.grantee = 0" },

	{ "roles",
	    "SELECT 'role ' || w.name, v.problem"
	    " FROM (VALUES ('crm_app', true), ('crm_worker', true),"
	    "  ('crm_owner', false), ('crm_auth', false)) w(name, svc)"
	    " LEFT JOIN pg_roles g ON g.rolname = w.name"
	    " CROSS JOIN LATERAL (VALUES"
	    "  (g.oid IS NULL, 'does not exist (sql/roles.sql)'),"
	    "  (g.rolsuper, 'is a superuser'),"
	    "  (g.rolbypassrls, 'has BYPASSRLS'),"
	    "  (g.rolcreaterole, 'has CREATEROLE'),"
	    "  (g.rolcreatedb, 'has CREATEDB'),"
	    "  (w.name = 'crm_auth' AND g.rolcanlogin, 'can log in'),"
	    "  (w.name = 'crm_owner' AND g.rolinherit, 'must be NOINHERIT "
	    "(it would pick up crm_auth''s cross-tenant lookup policy)'),"
	    "  (w.svc AND EXISTS (SELECT 1 FROM pg_auth_members m"
	    "   WHERE m.member = g.oid), 'is a member of another role (and "
	    "gets its rights)')"
	    " ) v(bad, problem) WHERE v.bad" },

	{ "owners",
	    "SELECT pg_describe_object(d.classid, d.objid, d.objsubid),"
	    "  format('owned by %s, which must own nothing', r.rolname)"
	    " FROM pg_shdepend d JOIN pg_roles r ON r.oid = d.refobjid"
	    " WHERE d.deptype = 'o' AND d.refclassid = 'pg_authid'::regclass"
	    " AND r.rolname IN ('crm_app', 'crm_worker')"
	    " AND d.dbid IN (0, (SELECT oid FROM pg_database"
	    "  WHERE datname = current_database()))"
	    " UNION ALL "
	    "SELECT n.nspname || '.' || c.relname, format('owned by %s, not "
	    "crm_owner', pg_get_userbyid(c.relowner))"
	    " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
	    " WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')"
	    " AND " SCHEMA_USER_NSP("n")
	    " AND pg_get_userbyid(c.relowner) <> 'crm_owner'"
	    " AND NOT EXISTS (SELECT 1 FROM pg_depend d"
	    "  WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid"
	    "  AND d.deptype = 'e')"
	    " UNION ALL "
	    "SELECT 'schema ' || nspname, format('owned by %s, not "
	    "crm_owner', pg_get_userbyid(nspowner)) FROM pg_namespace"
	    " WHERE nspname IN ('crm', 'auth', 'crm_meta')"
	    " AND pg_get_userbyid(nspowner) <> 'crm_owner'"
	    " UNION ALL "
	    "SELECT 'schema crm_meta', format('%s has USAGE on it: crm_meta "
	    "is the owner''s only', r.rolname) FROM pg_roles r"
	    " WHERE r.rolname IN ('crm_app', 'crm_worker')"
	    " AND to_regnamespace('crm_meta') IS NOT NULL"
	    " AND has_schema_privilege(r.oid, 'crm_meta', 'USAGE')" },

	{ "views",
	    "SELECT n.nspname || '.' || c.relname, v.problem"
	    " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
	    " CROSS JOIN LATERAL (VALUES"
	    "  (c.relkind = 'm', 'a materialized view copies rows out of "
	    "row level security'),"
	    "  (c.relkind = 'v' AND NOT EXISTS (SELECT 1"
	    "   FROM pg_options_to_table(c.reloptions) o"
	    "   WHERE o.option_name = 'security_invoker'"
	    "   AND o.option_value::bool), 'view without security_invoker = "
	    "true (it would read as its owner)'),"
	    "  ((SELECT rolsuper FROM pg_roles WHERE oid = c.relowner),"
	    "   'owned by a superuser (bypasses row level security)')"
	    " ) v(bad, problem)"
	    " WHERE c.relkind IN ('v', 'm') AND " SCHEMA_USER_NSP("n")
	    " AND v.bad AND NOT EXISTS (SELECT 1 FROM pg_depend d"
	    "  WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid"
	    "  AND d.deptype = 'e')" },

	{ "functions",
	    "SELECT 'function ' || p.oid::regprocedure::text, v.problem"
	    " FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
	    " CROSS JOIN LATERAL (VALUES"
	    "  (p.prosecdef AND n.nspname <> 'auth', 'SECURITY DEFINER "
	    "outside schema auth'),"
	    "  (p.prosecdef AND pg_get_userbyid(p.proowner) <> 'crm_auth',"
	    "   'SECURITY DEFINER not owned by crm_auth'),"
	    "  (p.prosecdef AND NOT EXISTS (SELECT 1"
	    "   FROM unnest(p.proconfig) s WHERE s LIKE 'search\\_path=%'),"
	    "   'SECURITY DEFINER without SET search_path'),"
	    "  (pg_get_userbyid(p.proowner) NOT IN ('crm_owner', 'crm_auth'),"
	    "   format('owned by %s', pg_get_userbyid(p.proowner)))"
	    " ) v(bad, problem)"
	    " WHERE " SCHEMA_USER_NSP("n") " AND v.bad"
	    " AND NOT EXISTS (SELECT 1 FROM pg_depend d"
	    "  WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid"
	    "  AND d.deptype = 'e')" },
};

static const char schema_count_sql[] = SCHEMA_RELS
    "SELECT count(*) FILTER (WHERE NOT relispartition),"
    " count(*) FILTER (WHERE relispartition) FROM rels";

/* {"a","b"}: an array literal of constant names (no quotes in them). */
static char *
schema_array(const struct schema_exception *v, size_t n)
{
	struct buf	b;
	size_t		i;

	buf_init(&b, 64);
	buf_appendc(&b, '{');
	for (i = 0; i < n; i++)
		buf_appendf(&b, "%s\"%s\"", i ? "," : "", v[i].name);
	buf_appendc(&b, '}');
	return (buf_cstr(&b));
}

/* Runs one check; prints its violations.  Their count, or -1. */
static int
schema_run(PGconn *conn, const struct schema_check *c,
    const char *const *params)
{
	static const Oid types[3] = { TEXTARRAYOID, TEXTARRAYOID, TEXTOID };
	PGresult	*res;
	int		 i, n;

	res = PQexecParams(conn, c->sql, 3, types, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		ctl_pgerr(c->name, conn, res);
		PQclear(res);
		return (-1);
	}
	n = PQntuples(res);
	for (i = 0; i < n; i++)
		printf("  %s: %s\n", PQgetvalue(res, i, 0),
		    PQgetvalue(res, i, 1));
	PQclear(res);
	return (n);
}

static int
schema_check_all(PGconn *conn)
{
	static const Oid types[3] = { TEXTARRAYOID, TEXTARRAYOID, TEXTOID };
	const char	*p[3];
	char		*tables, *keys;
	PGresult	*res = NULL;
	size_t		 i;
	int		 n, bad = 0, rc = CTL_ERR;

	tables = schema_array(schema_global_tables,
	    sizeof(schema_global_tables) / sizeof(schema_global_tables[0]));
	keys = schema_array(schema_global_keys,
	    sizeof(schema_global_keys) / sizeof(schema_global_keys[0]));
	p[0] = tables;
	p[1] = keys;
	p[2] = TENANT_POLICY_EXPR;
	for (i = 0; i < sizeof(schema_checks) / sizeof(schema_checks[0]);
	    i++) {
		if ((n = schema_run(conn, &schema_checks[i], p)) == -1)
			goto out;
		bad += n;
	}
	res = PQexecParams(conn, schema_count_sql, 3, types, p, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		ctl_pgerr("counting tables", conn, res);
		goto out;
	}
	printf("schema check: %s tables, %s partitions, %d violations\n",
	    PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1), bad);
	rc = bad == 0 ? CTL_OK : CTL_ERR;
out:
	PQclear(res);
	xfree(tables);
	xfree(keys);
	return (rc);
}

static const char check_usage[] =
    "usage: crmctl check-schema\n"
    "  Checks every table and partition outside the system schemas\n"
    "  against the tenancy rules (SECURITY.md 3.1.5, test ISO-08) and\n"
    "  prints each violation; exit status 1 if there is any.  Uses\n"
    "  " OWNER_URL_ENV ".\n";

static int
cmd_check_schema(int argc, char **argv)
{
	PGconn		*conn;
	int		 rc;

	if (argc == 2 && (strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "-h") == 0)) {
		fputs(check_usage, stdout);
		return (CTL_OK);
	}
	if (argc != 1)
		return (ctl_usage("check-schema", check_usage,
		    "unexpected argument: %s", argv[1]));
	if ((conn = ctl_connect(OWNER_URL_ENV)) == NULL)
		return (CTL_ERR);
	rc = schema_check_all(conn);
	PQfinish(conn);
	return (rc);
}

/* ---------------------------------------------------------------- main */

static void
ctl_help(FILE *fp)
{
	size_t		i;

	fprintf(fp, "usage: crmctl COMMAND [OPTIONS]   (crmctl COMMAND "
	    "--help for its options)\n\ncommands:\n");
	for (i = 0; i < sizeof(ctl_cmds) / sizeof(ctl_cmds[0]); i++)
		fprintf(fp, "  %-14s %s\n", ctl_cmds[i].name, ctl_cmds[i].help);
	fprintf(fp, "\nenvironment:\n  %-22s postgresql:// URL of the "
	    "owner role (crm_owner)\n", OWNER_URL_ENV);
}

#ifndef CRMCTL_NO_MAIN
int
main(int argc, char **argv)
{
	size_t		i;

	if (argc < 2) {
		ctl_help(stderr);
		return (CTL_USAGE);
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		ctl_help(stdout);
		return (CTL_OK);
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("crmctl %s\n", CRM_VERSION);
		return (CTL_OK);
	}
	opterr = 0;
	for (i = 0; i < sizeof(ctl_cmds) / sizeof(ctl_cmds[0]); i++)
		if (strcmp(argv[1], ctl_cmds[i].name) == 0)
			return (ctl_cmds[i].fn(argc - 1, argv + 1));
	fprintf(stderr, "crmctl: unknown command: %s\n", argv[1]);
	ctl_help(stderr);
	return (CTL_USAGE);
}
#endif

/* ------------------------------------------------------------------ keys */

static const char keys_usage[] =
    "usage: crmctl keys init|list [--dir DIR]\n"
    "       crmctl keys rotate [--dir DIR] [--activate-in SECONDS]\n"
    "  The ES256 key ring that signs access tokens (default directory:\n"
    "  $CRM_KEYS_DIR, else var/keys).  init creates the first key if the\n"
    "  ring is empty.  rotate adds a new key that starts signing after\n"
    "  SECONDS (default 900, one token lifetime, so every verifier has it\n"
    "  first); the previous key keeps verifying until the tokens it signed\n"
    "  have expired, so nobody is logged out.  list shows each key's state.\n";

static int
keys_args(int argc, char **argv, const char **dir, int *activate_in)
{
	static const struct option opts[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "activate-in", required_argument, NULL, 'a' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	int		 ch;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'd':
			*dir = optarg;
			break;
		case 'a':
			if (ctl_int(optarg, 0, 86400 * 30, activate_in) == -1)
				return (ctl_usage("keys", keys_usage,
				    "--activate-in: 0..2592000 seconds"));
			break;
		case 'h':
			fputs(keys_usage, stdout);
			return (-1);
		default:
			return (ctl_badopt("keys", keys_usage, argv));
		}
	}
	if (optind != argc)
		return (ctl_usage("keys", keys_usage, "unexpected argument: %s",
		    argv[optind]));
	return (0);
}

static int
keys_list(const char *dir)
{
	static const char	*names[] = { "pending", "active", "verify-only",
				    "retired" };
	struct kr_ring		 ring;
	int64_t			 now = (int64_t)time(NULL);
	size_t			 i;

	if (kr_load(dir, &ring) == -1) {
		fprintf(stderr, "crmctl keys: %s\n", kr_error());
		return (CTL_ERR);
	}
	for (i = 0; i < ring.nkeys; i++)
		printf("%s  %-11s  activate_at %lld\n", ring.keys[i].kid,
		    names[kr_state(&ring.keys[i], now)],
		    (long long)ring.keys[i].activate_at);
	kr_free(&ring);
	return (CTL_OK);
}

static int
cmd_keys(int argc, char **argv)
{
	const char	*dir, *sub;
	int		 activate_in = TOK_LIFETIME, rc;

	if ((dir = getenv("CRM_KEYS_DIR")) == NULL || *dir == '\0')
		dir = "var/keys";
	if (argc < 2)
		return (ctl_usage("keys", keys_usage, "missing subcommand"));
	sub = argv[1];
	if ((rc = keys_args(argc - 1, argv + 1, &dir, &activate_in)) != 0)
		return (rc == -1 ? CTL_OK : rc);
	if (strcmp(sub, "list") == 0)
		return (keys_list(dir));
	if (strcmp(sub, "init") == 0)
		rc = kr_init_if_empty(dir);
	else if (strcmp(sub, "rotate") == 0)
		rc = kr_rotate(dir, activate_in);
	else
		return (ctl_usage("keys", keys_usage, "unknown subcommand: %s",
		    sub));
	if (rc == -1) {
		fprintf(stderr, "crmctl keys %s: %s\n", sub, kr_error());
		return (CTL_ERR);
	}
	return (keys_list(dir));
}
