/*
 * jobmail.c: the "email" job of crm-worker: render the template, build
 * the message (mail.c), send it over SMTP with libcurl to CRM_SMTP_URL.
 *
 * The job's payload (sql/024_email.sql) carries the recipient, the merge
 * values, the tenant's template when it has one (else a built-in of
 * mailtpl.c) and, for invitations and password resets, the token sealed
 * with the worker's key (jobseal.c).  The token is opened here, put into
 * the link, and wiped with the rendered text once the message is sent; it
 * is never logged and never written back.
 *
 * Outcomes: a 2xx end of DATA is sent; a 5xx reply (unknown mailbox,
 * policy) is permanent (failed, last_error says which); a 4xx reply, a
 * refused connection or a timeout is retried with the runtime's backoff
 * until CRM_EMAIL_MAX_ATTEMPTS.  A message that cannot be built (header
 * injection through a merge value, a bad address) is permanent.
 */

#include <stdio.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "jobdb.h"
#include "mail.h"

/* What each kind of e-mail needs besides its payload. */
static const struct jmail_kind {
	const char	*kind;
	const char	*builtin;	/* template unless the tenant has one */
	const char	*path;		/* link, the token in its fragment */
	const char	*var;		/* the merge field that gets the link */
} jmail_kinds[] = {
	{ "invitation",		"invitation",	  "/accept-invitation",
	  "invitation.url" },
	{ "password_reset",	"password_reset", "/reset-password",
	  "reset.url" },
	{ "contact",		NULL,		  NULL,	NULL },
};

/* The upper bounds of crm_worker_email_send_seconds' buckets. */
const int	jmail_bucket_ms[JMAIL_BUCKETS] = {
	10, 25, 50, 100, 250, 500, 1000, 5000
};

struct jmail_src {
	const char	*data;
	size_t		 len;
	size_t		 off;
};

static const struct jmail_kind *
jmail_kind(const char *name)
{
	size_t	i;

	for (i = 0; name != NULL &&
	    i < sizeof(jmail_kinds) / sizeof(jmail_kinds[0]); i++) {
		if (strcmp(jmail_kinds[i].kind, name) == 0)
			return (&jmail_kinds[i]);
	}
	return (NULL);
}

static int
jmail_fail(struct jmail_result *r, int retry, const char *why)
{
	r->retry = retry;
	(void)snprintf(r->error, sizeof(r->error), "%s", why);
	return (-1);
}

static size_t
jmail_read(char *p, size_t sz, size_t n, void *u)
{
	struct jmail_src	*s = u;
	size_t			 k = sz * n;

	if (k > s->len - s->off)
		k = s->len - s->off;
	memcpy(p, s->data + s->off, k);
	s->off += k;
	return (k);
}

static void
jmail_setopts(CURL *h, struct curl_slist *rcpt, const char *from,
    struct jmail_src *src)
{
	char	mfrom[MAIL_ADDR_MAX + 3];
	long	cto = crm_conf.smtp_timeout_ms < 10000 ?
		    crm_conf.smtp_timeout_ms : 10000;

	(void)snprintf(mfrom, sizeof(mfrom), "<%s>", from);
	(void)curl_easy_setopt(h, CURLOPT_URL, crm_conf.smtp_url);
	(void)curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
	(void)curl_easy_setopt(h, CURLOPT_PROXY, "");
	(void)curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
	(void)curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	(void)curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, cto);
	(void)curl_easy_setopt(h, CURLOPT_TIMEOUT_MS,
	    (long)crm_conf.smtp_timeout_ms);
	(void)curl_easy_setopt(h, CURLOPT_MAIL_FROM, mfrom);
	(void)curl_easy_setopt(h, CURLOPT_MAIL_RCPT, rcpt);
	(void)curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
	(void)curl_easy_setopt(h, CURLOPT_READFUNCTION, jmail_read);
	(void)curl_easy_setopt(h, CURLOPT_READDATA, src);
	(void)curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE,
	    (curl_off_t)src->len);
	if (crm_conf.smtp_user[0] != '\0') {
		(void)curl_easy_setopt(h, CURLOPT_USERNAME,
		    crm_conf.smtp_user);
		(void)curl_easy_setopt(h, CURLOPT_PASSWORD,
		    crm_conf.smtp_password);
	}
	if (crm_conf.smtp_starttls)
		(void)curl_easy_setopt(h, CURLOPT_USE_SSL, (long)CURLUSESSL_ALL);
}

/* One SMTP transaction; 0 sent, -1 with r filled. */
static int
jmail_smtp(const char *from, const char *to, struct buf *msg,
    struct jmail_result *r)
{
	struct jmail_src	 src = { msg->data, msg->len, 0 };
	struct curl_slist	*rcpt;
	char			 brk[MAIL_ADDR_MAX + 3], err[160];
	CURL			*h;
	CURLcode		 rc;
	long			 code = 0;
	uint64_t		 t0 = crm_now_ms();

	if (crm_conf.smtp_url[0] == '\0')
		return (jmail_fail(r, 1, "CRM_SMTP_URL is not set"));
	(void)snprintf(brk, sizeof(brk), "<%s>", to);
	if ((h = curl_easy_init()) == NULL ||
	    (rcpt = curl_slist_append(NULL, brk)) == NULL) {
		curl_easy_cleanup(h);
		return (jmail_fail(r, 1, "curl: no memory"));
	}
	jmail_setopts(h, rcpt, from, &src);
	rc = curl_easy_perform(h);
	(void)curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_cleanup(h);
	curl_slist_free_all(rcpt);
	r->ms = crm_now_ms() - t0;
	r->smtp = (int)code;
	if (rc == CURLE_OK)
		return (0);
	/* Only the code and curl's generic text: never the server's. */
	(void)snprintf(err, sizeof(err), "SMTP %ld: %s", code,
	    curl_easy_strerror(rc));
	return (jmail_fail(r, !(code >= 500 && code < 600), err));
}

/* The link with the opened token, into vars; -1 when it cannot open. */
static int
jmail_link(struct jrun *w, const struct jmail_kind *k, json_t *payload,
    json_t *vars, struct jmail_result *r)
{
	const char	*hex = js_get_str(payload, "secret");
	uint8_t		 sealed[256];
	char		 tok[160];
	size_t		 len;
	struct buf	 url;

	if (k->var == NULL)
		return (0);
	if (hex == NULL || (len = strlen(hex) / 2) > sizeof(sealed) ||
	    crm_unhex(hex, sealed, len) != 0 ||
	    jseal_open(w->key, sealed, len, tok, sizeof(tok)) != 0)
		return (jmail_fail(r, 0, "the token cannot be opened "
		    "(key file changed?)"));
	buf_init(&url, 256);
	buf_appendf(&url, "%s%s#token=%s", crm_conf.public_url, k->path, tok);
	json_object_set_new(vars, k->var, json_string(buf_cstr(&url)));
	explicit_bzero(tok, sizeof(tok));
	explicit_bzero(url.data, url.cap);
	buf_free(&url);
	return (0);
}

static void
jmail_wipe(struct buf *b)
{
	if (b->data != NULL)
		explicit_bzero(b->data, b->cap);
	buf_free(b);
}

/* Subject, text and HTML of the e-mail, from its template and values. */
static int
jmail_render(struct jrun *w, const struct jmail_kind *k, json_t *payload,
    struct buf out[3], struct jmail_result *r)
{
	const struct mtpl_builtin	*bi = mtpl_builtin(k->builtin);
	json_t				*tpl, *vars;
	const char			*parts[3];
	int				 i, rc;

	tpl = json_object_get(payload, "template");
	if (json_is_object(tpl)) {
		parts[0] = js_get_str(tpl, "subject");
		parts[1] = js_get_str(tpl, "text");
		parts[2] = js_get_str(tpl, "html");
	} else if (bi != NULL) {
		parts[0] = bi->subject;
		parts[1] = bi->text;
		parts[2] = bi->html;
	} else {
		return (jmail_fail(r, 0, "bad payload: no template"));
	}
	if (parts[0] == NULL || parts[1] == NULL)
		return (jmail_fail(r, 0, "bad payload: no subject or text"));
	vars = json_object_get(payload, "vars");
	vars = json_is_object(vars) ? json_deep_copy(vars) : json_object();
	rc = jmail_link(w, k, payload, vars, r);
	for (i = 0; i < 3 && rc == 0; i++) {
		buf_init(&out[i], 1024);
		if (parts[i] != NULL && parts[i][0] != '\0')
			mtpl_render(&out[i], parts[i], vars, i == 2);
		(void)buf_cstr(&out[i]);
	}
	/* jansson frees its copy of the link without wiping it. */
	json_decref(vars);
	return (rc);
}

/*
 * Runs one e-mail job.  On success of a contact e-mail, r->subject and
 * r->text hold the rendered subject and text for its activity (the
 * caller frees them with jmail_result_free).
 */
int
jmail_run(struct jrun *w, const char *job, json_t *payload,
    struct jmail_result *r)
{
	const struct jmail_kind	*k;
	struct mail_msg		 m;
	struct buf		 part[3], msg;
	const char		*why;
	int			 rc, i;

	memset(r, 0, sizeof(*r));
	memset(part, 0, sizeof(part));
	if ((k = jmail_kind(js_get_str(payload, "kind"))) == NULL)
		return (jmail_fail(r, 0, "bad payload: unknown kind"));
	if (jmail_render(w, k, payload, part, r) == -1) {
		for (i = 0; i < 3; i++)
			jmail_wipe(&part[i]);
		return (-1);
	}
	memset(&m, 0, sizeof(m));
	m.from = crm_conf.smtp_from;
	m.from_name = js_get_str(payload, "from_name");
	m.to = js_get_str(payload, "to");
	/* A sender address we would not send to is left out, not fatal. */
	m.reply_to = js_get_str(payload, "reply_to");
	if (m.reply_to != NULL && !mail_addr_ok(m.reply_to))
		m.reply_to = NULL;
	m.subject = buf_cstr(&part[0]);
	m.text = buf_cstr(&part[1]);
	m.html = part[2].len > 0 ? buf_cstr(&part[2]) : NULL;
	m.id = job;
	m.date = time(NULL);
	buf_init(&msg, part[1].len * 2 + part[2].len * 2 + 1024);
	if ((rc = mail_build(&m, &msg, &why)) == -1)
		(void)jmail_fail(r, 0, why);
	else
		rc = jmail_smtp(m.from, m.to, &msg, r);
	if (rc == 0 && k->var == NULL) {
		r->subject = xstrdup(m.subject);
		r->text = xstrdup(m.text);
	}
	jmail_wipe(&msg);
	for (i = 0; i < 3; i++)
		jmail_wipe(&part[i]);
	return (rc);
}

void
jmail_result_free(struct jmail_result *r)
{
	xfree(r->subject);
	xfree(r->text);
	r->subject = r->text = NULL;
}
