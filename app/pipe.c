/*
 * pipe.c: the request pipeline and the route table.
 *
 * Kore routes every request to crm_dispatch() (conf/crm.conf.in has one
 * catch-all route).  The pipeline below is declared once as a table of
 * steps; each step either lets the request continue, replies (and so ends
 * it), or parks it on an async operation whose continuation resumes the
 * walk.  Cross-cutting work lives here so handlers stay short; what a step
 * does for a given route is decided by the route's flags and permission.
 *
 * Identity (authenticate, tenant, permission) and the rate limiter plug in
 * through the pipe_hooks table, which modules/identity fills in at worker
 * start; until then those steps let public routes through and refuse
 * every other route with 401.
 */

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "srv.h"

#define PIPE_BODY_MAX		(1024 * 1024)

struct pipe_hooks	pipe_hooks;

/* The flat route table; pipe_pats[i] is the compiled pattern of entry i. */
struct pipe_entry {
	const struct route		*route;
	const struct crm_module		*module;
};

static struct pipe_entry	*pipe_routes;
static struct route_pat		*pipe_pats;
static int			 pipe_nroutes;

static int	pipe_request_id(struct rq *);
static int	pipe_match(struct rq *);
static int	pipe_parse(struct rq *);
static int	pipe_authenticate(struct rq *);
static int	pipe_tenant(struct rq *);
static int	pipe_ratelimit(struct rq *);
static int	pipe_permission(struct rq *);
static int	pipe_idempotency(struct rq *);
static int	pipe_handler(struct rq *);

/* The pipeline, in order.  Names appear in logs when a step fails. */
static const struct {
	const char	*name;
	rq_fn		 fn;
} pipe_steps[] = {
	{ "request_id",		pipe_request_id },
	{ "route",		pipe_match },
	{ "parse",		pipe_parse },
	{ "authenticate",	pipe_authenticate },
	{ "tenant",		pipe_tenant },
	{ "rate_limit",		pipe_ratelimit },
	{ "permission",		pipe_permission },
	{ "idempotency",	pipe_idempotency },
	{ "handler",		pipe_handler },
};

#define PIPE_NSTEPS	((int)(sizeof(pipe_steps) / sizeof(pipe_steps[0])))

/*
 * Build the flat route table from every module.  Test-only routes join
 * only when the operator enabled them.
 */
void
pipe_worker_init(void)
{
	const struct crm_module	*m;
	size_t			 i, j, n;

	n = 0;
	for (i = 0; crm_modules[i] != NULL; i++)
		n += crm_modules[i]->nroutes;
	pipe_routes = xcalloc(n, sizeof(*pipe_routes));
	pipe_pats = xcalloc(n, sizeof(*pipe_pats));
	for (i = 0; (m = crm_modules[i]) != NULL; i++) {
		for (j = 0; j < m->nroutes; j++) {
			if ((m->routes[j].flags & RT_TEST) &&
			    !crm_conf.test_routes)
				continue;
			if (route_compile(&pipe_pats[pipe_nroutes],
			    m->routes[j].path, m->routes[j].method) == -1)
				crm_fatal("route %s: bad pattern",
				    m->routes[j].path);
			pipe_routes[pipe_nroutes].route = &m->routes[j];
			pipe_routes[pipe_nroutes++].module = m;
		}
	}
}

int
pipe_route_count(void)
{
	return (pipe_nroutes);
}

const struct route *
pipe_route_at(int i, const struct crm_module **mod)
{
	if (i < 0 || i >= pipe_nroutes)
		return (NULL);
	if (mod != NULL)
		*mod = pipe_routes[i].module;
	return (pipe_routes[i].route);
}

static void
pipe_free(struct http_request *req)
{
	struct rq	*rq = req->hdlr_extra;
	int		 i;

	if (rq == NULL)
		return;
	db_rq_free(rq);
	rds_rq_free(rq);
	lim_rq_free(rq);
	kdf_rq_free(rq);
	idem_rq_free(rq);
	if (rq->h_free != NULL && rq->h != NULL)
		rq->h_free(rq->h);
	for (i = 0; i < rq->nparams; i++)
		xfree(rq->params[i]);
	if (rq->body != NULL)
		json_decref(rq->body);
	if (rq->parked != NULL)
		json_decref(rq->parked);
	if (pipe_hooks.principal_free != NULL)
		pipe_hooks.principal_free(&rq->who);
	buf_free(&rq->hdrs);
}

static struct rq *
pipe_new(struct http_request *req)
{
	struct rq	*rq;

	rq = http_state_create(req, sizeof(*rq), pipe_free);
	rq->req = req;
	rq->route_idx = -1;
	rq->start_us = crm_now_us();
	rq->deadline_ms = rq->start_us / 1000 + crm_conf.request_timeout_ms;
	buf_init(&rq->hdrs, 128);
	return (rq);
}

void
pipe_wake(struct rq *rq)
{
	http_request_wakeup(rq->req);
}

/*
 * The one Kore handler.  Runs a pending continuation if there is one, then
 * the remaining steps, until the request is answered or parked.
 */
int
crm_dispatch(struct http_request *req)
{
	struct rq	*rq;
	rq_fn		 fn;
	int		 r;

	if ((rq = req->hdlr_extra) == NULL)
		rq = pipe_new(req);
	r = PIPE_NEXT;
	if ((fn = rq->next) != NULL) {
		rq->next = NULL;
		r = fn(rq);
	}
	while (r == PIPE_NEXT && !rq->done && rq->step < PIPE_NSTEPS)
		r = pipe_steps[rq->step++].fn(rq);
	if (r == RQ_WAIT && !rq->done) {
		if (rq->next == NULL)
			crm_fatal("step %s parked without a continuation",
			    pipe_steps[rq->step - 1].name);
		return (KORE_RESULT_RETRY);
	}
	if (!rq->done) {
		log_msg(LOG_LVL_ERROR, "no_reply", "step %s returned no reply",
		    pipe_steps[rq->step - 1].name);
		reply_problem(rq, PROB_INTERNAL, NULL);
	}
	pipe_finish(rq);
	return (KORE_RESULT_OK);
}

/* Step 1: a request id, the client's when it is sane. */
static int
pipe_id_sane(const char *s)
{
	size_t	i;

	for (i = 0; s[i] != '\0'; i++) {
		if (i >= RQ_IDLEN)
			return (0);
		if (!isalnum((unsigned char)s[i]) && strchr("-_.:", s[i]) == NULL)
			return (0);
	}
	return (i > 0);
}

static int
pipe_request_id(struct rq *rq)
{
	const char	*v;

	if (http_request_header(rq->req, "x-request-id", &v) && pipe_id_sane(v))
		(void)snprintf(rq->id, sizeof(rq->id), "%s", v);
	else
		uuid7_new_str(rq->id);
	return (PIPE_NEXT);
}

/* Step 2: find the route; remember the path parameters. */
static int
pipe_method(int m)
{
	return (m == HTTP_METHOD_HEAD ? HTTP_METHOD_GET : m);
}

static int
pipe_not_allowed(struct rq *rq, int methods)
{
	static const int	 order[] = { HTTP_METHOD_GET, HTTP_METHOD_POST,
				    HTTP_METHOD_PUT, HTTP_METHOD_PATCH,
				    HTTP_METHOD_DELETE };
	struct buf		 allow;
	size_t			 i;

	buf_init(&allow, 64);
	for (i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		if (!(methods & order[i]))
			continue;
		if (allow.len > 0)
			buf_appends(&allow, ", ");
		buf_appends(&allow, http_method_text(order[i]));
	}
	reply_header(rq, "allow", buf_cstr(&allow));
	buf_free(&allow);
	return (reply_problem(rq, PROB_METHOD_NOT_ALLOWED,
	    "%s is not allowed on this resource",
	    http_method_text(rq->req->method)));
}

static int
pipe_match(struct rq *rq)
{
	struct route_match	m;
	int			i, j;

	i = route_match(pipe_pats, pipe_nroutes, pipe_method(rq->req->method),
	    rq->req->path, &m);
	if (i == -1 && m.allowed != 0)
		return (pipe_not_allowed(rq, m.allowed));
	if (i == -1)
		return (reply_problem(rq, PROB_NOT_FOUND, "no such resource"));
	rq->route = pipe_routes[i].route;
	rq->route_idx = i;
	for (j = 0; j < m.nparams; j++)
		rq->params[rq->nparams++] = xstrdup(m.params[j]);
	return (PIPE_NEXT);
}

/* Step 3: the body.  JSON routes get a parsed, bounded, valid document. */
static int
pipe_content_json(struct rq *rq)
{
	const char	*ct, *p;

	if (!http_request_header(rq->req, "content-type", &ct))
		return (0);
	if (strncasecmp(ct, "application/json", 16) != 0)
		return (0);
	for (p = ct + 16; *p == ' '; p++)
		;
	if (*p == '\0')
		return (1);
	if (*p != ';')
		return (0);
	for (p++; *p == ' '; p++)
		;
	return (strcasecmp(p, "charset=utf-8") == 0);
}

static int
pipe_parse(struct rq *rq)
{
	struct js_err	 err;
	size_t		 len = rq->req->http_body_length;
	const void	*data;

	if (rq->route->flags & RT_RAW)
		return (PIPE_NEXT);
	/* Checked first: bodies over 1 MiB were spooled to disk by Kore. */
	if (len > PIPE_BODY_MAX)
		return (reply_problem(rq, PROB_PAYLOAD_TOO_LARGE,
		    "the body exceeds %d bytes", PIPE_BODY_MAX));
	if (len == 0 || rq->req->http_body == NULL) {
		if (rq->route->flags & RT_JSON)
			return (reply_problem(rq, PROB_INVALID_JSON,
			    "a JSON body is required"));
		return (PIPE_NEXT);
	}
	if (!pipe_content_json(rq))
		return (reply_problem(rq, PROB_UNSUPPORTED_MEDIA_TYPE,
		    "send application/json; charset=utf-8"));
	data = rq->req->http_body->data;
	if ((rq->body = js_parse(data, len, &err)) == NULL)
		return (reply_problem(rq, PROB_INVALID_JSON, "%s", err.detail));
	return (PIPE_NEXT);
}

/*
 * Steps 4-6 belong to the identity module; without it only public routes
 * are served.  The hooks return PIPE_NEXT, RQ_DONE or RQ_WAIT like any step.
 */
static int
pipe_is_public(const struct route *r)
{
	return (strcmp(r->perm, "public") == 0);
}

static int
pipe_authenticate(struct rq *rq)
{
	if (pipe_hooks.authenticate != NULL)
		return (pipe_hooks.authenticate(rq));
	if (pipe_is_public(rq->route))
		return (PIPE_NEXT);
	reply_header(rq, "www-authenticate", "Bearer");
	return (reply_problem(rq, PROB_UNAUTHENTICATED,
	    "a bearer credential is required"));
}

/*
 * The tenant comes from the credential and nowhere else: a non-public
 * route with no tenant in its principal stops here, whatever the path,
 * query or body say.  The identity module may refine this (tenant state).
 */
static int
pipe_tenant(struct rq *rq)
{
	if (pipe_is_public(rq->route))
		return (PIPE_NEXT);
	if (rq->who.tenant[0] == '\0')
		return (reply_problem(rq, PROB_UNAUTHENTICATED,
		    "the credential names no tenant"));
	if (pipe_hooks.tenant != NULL)
		return (pipe_hooks.tenant(rq));
	return (PIPE_NEXT);
}

static int
pipe_ratelimit(struct rq *rq)
{
	if (rq->route->flags & RT_NOLIMIT || pipe_hooks.ratelimit == NULL)
		return (PIPE_NEXT);
	return (pipe_hooks.ratelimit(rq));
}

static int
pipe_permission(struct rq *rq)
{
	if (pipe_is_public(rq->route))
		return (PIPE_NEXT);
	if (pipe_hooks.permission == NULL)
		return (reply_problem(rq, PROB_FORBIDDEN, "not allowed"));
	return (pipe_hooks.permission(rq));
}

/*
 * Step 8: Idempotency-Key (idem.c), once the caller is known to be allowed
 * and the body is parsed: a repeat is answered here, without the handler.
 */
static int
pipe_idempotency(struct rq *rq)
{
	return (idem_check(rq));
}

static int
pipe_handler(struct rq *rq)
{
	return (rq->route->fn(rq));
}

/*
 * Does the caller hold perm ("<resource>:<action>")?  Its role's grants,
 * and for an API key its scopes too.  The permission step asks this for
 * the route; handlers ask it for what a request does beyond the route
 * (a batch's deletes, what a lead conversion creates, an export).
 */
int
pipe_allows(struct rq *rq, const char *perm)
{
	return (perm_allows(rq->who.grants, perm) &&
	    (rq->who.kind != PRINC_APIKEY ||
	    perm_key_allows(rq->who.scopes, perm)));
}

/* Accessors for handlers. */

const char *
pipe_param(struct rq *rq, int i)
{
	return (i >= 0 && i < rq->nparams ? rq->params[i] : NULL);
}

const char *
pipe_header(struct rq *rq, const char *name)
{
	const char	*v;

	return (http_request_header(rq->req, name, &v) ? v : NULL);
}

const char *
pipe_query(struct rq *rq)
{
	return (rq->req->query_string);
}

/* After the reply: one log line and the metrics, never a body or secret. */
void
pipe_finish(struct rq *rq)
{
	struct buf	 line;
	uint64_t	 us = crm_now_us() - rq->start_us;
	const char	*route;

	met_request(rq->route_idx, rq->status, us);
	if (rq->route != NULL && (rq->route->flags & RT_NOLOG) &&
	    rq->status < 400)
		return;
	route = rq->route ? rq->route->path : "-";
	buf_init(&line, 256);
	buf_appendc(&line, '{');
	log_ts(&line);
	buf_appends(&line, ",\"level\":\"info\",\"event\":\"request\",\"method\":");
	js_escape(&line, http_method_text(rq->req->method),
	    strlen(http_method_text(rq->req->method)));
	buf_appends(&line, ",\"route\":");
	js_escape(&line, route, strlen(route));
	buf_appendf(&line, ",\"status\":%d,\"ms\":%.3f,\"tenant\":",
	    rq->status, us / 1000.0);
	js_escape(&line, rq->who.tenant, strlen(rq->who.tenant));
	buf_appends(&line, ",\"request_id\":");
	js_escape(&line, rq->id, strlen(rq->id));
	buf_appendf(&line, ",\"pid\":%d}", (int)crm_pid());
	log_line(&line);
	buf_free(&line);
}
