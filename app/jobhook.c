/*
 * jobhook.c: one webhook POST over libcurl (crm-worker only; the Makefile
 * links -lcurl into the worker alone).
 *
 * The SSRF guard's second half (SECURITY.md SSRF-01/02, 3.5): curl
 * resolves the name and, for every address it is about to connect to,
 * calls jhook_socket(), which refuses any address that is not public
 * (and not in CRM_WEBHOOK_ALLOWLIST).  The check and the connect use the
 * same sockaddr, so a name that rebinds between the subscription check
 * and the delivery gains nothing.  No redirects, no proxies from the
 * environment, http and https only, bounded connect and total time, at
 * most 64 KiB of the answer read (and never stored: only its status).
 */

#include <sys/socket.h>

#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "jobdb.h"

#define JHOOK_MAX_READ	(64 * 1024)

struct jhook_ctx {
	const struct jaddr_allow	*allow;
	int				 refused;
	int				 tried;
	size_t				 got;
};

static curl_socket_t
jhook_socket(void *u, curlsocktype purpose, struct curl_sockaddr *a)
{
	struct jhook_ctx	*ctx = u;

	ctx->tried++;
	if (purpose != CURLSOCKTYPE_IPCXN ||
	    (!jaddr_allowed(&a->addr, ctx->allow) &&
	    !jaddr_public(&a->addr))) {
		ctx->refused++;
		return (CURL_SOCKET_BAD);
	}
	return (socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol));
}

static size_t
jhook_sink(char *p, size_t sz, size_t n, void *u)
{
	struct jhook_ctx	*ctx = u;

	ctx->got += sz * n;
	return (ctx->got > JHOOK_MAX_READ ? 0 : sz * n);
}

void
jhook_global_init(void)
{
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		crm_fatal("curl_global_init failed");
}

static void
jhook_setopts(CURL *h, const char *url, struct curl_slist *hdrs,
    const char *body, size_t len, struct jhook_ctx *ctx)
{
	(void)curl_easy_setopt(h, CURLOPT_URL, url);
	(void)curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	(void)curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	(void)curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	(void)curl_easy_setopt(h, CURLOPT_PROXY, "");
	(void)curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
	(void)curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	(void)curl_easy_setopt(h, CURLOPT_FORBID_REUSE, 1L);
	(void)curl_easy_setopt(h, CURLOPT_USERAGENT, "crm-webhooks/"
	    CRM_VERSION);
	(void)curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
	    (long)crm_conf.webhook_connect_timeout_ms);
	(void)curl_easy_setopt(h, CURLOPT_TIMEOUT_MS,
	    (long)crm_conf.webhook_timeout_ms);
	(void)curl_easy_setopt(h, CURLOPT_POST, 1L);
	(void)curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	(void)curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)len);
	(void)curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	(void)curl_easy_setopt(h, CURLOPT_OPENSOCKETFUNCTION, jhook_socket);
	(void)curl_easy_setopt(h, CURLOPT_OPENSOCKETDATA, ctx);
	(void)curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, jhook_sink);
	(void)curl_easy_setopt(h, CURLOPT_WRITEDATA, ctx);
}

/*
 * POSTs body to url with the given "Name: value" headers (NULL-ended).
 * A 2xx is success; anything else fills r->error (never with the
 * answer's body, which is the target's and may be anything).
 */
void
jhook_post(const char *url, const char *const *headers, const char *body,
    size_t len, const struct jaddr_allow *allow, struct jhook_result *r)
{
	struct jhook_ctx	 ctx;
	struct curl_slist	*hdrs = NULL, *t;
	CURL			*h;
	CURLcode		 rc;
	long			 code = 0;
	int			 i;

	memset(r, 0, sizeof(*r));
	memset(&ctx, 0, sizeof(ctx));
	ctx.allow = allow;
	if ((h = curl_easy_init()) == NULL) {
		(void)snprintf(r->error, sizeof(r->error), "curl: no memory");
		return;
	}
	/* No "Expect: 100-continue": it would cost a round trip or a
	 * second's wait on receivers that do not answer it. */
	if ((hdrs = curl_slist_append(NULL, "Expect:")) == NULL) {
		curl_easy_cleanup(h);
		(void)snprintf(r->error, sizeof(r->error), "curl: no memory");
		return;
	}
	for (i = 0; headers[i] != NULL; i++) {
		if ((t = curl_slist_append(hdrs, headers[i])) == NULL)
			break;
		hdrs = t;
	}
	jhook_setopts(h, url, hdrs, body, len, &ctx);
	rc = curl_easy_perform(h);
	(void)curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_cleanup(h);
	curl_slist_free_all(hdrs);
	r->status = (int)code;
	if (ctx.refused > 0 && ctx.refused == ctx.tried) {
		r->refused = 1;
		(void)snprintf(r->error, sizeof(r->error), "the target resolves "
		    "to a non-public address (refused)");
		return;
	}
	if (code >= 200 && code < 300 && (rc == CURLE_OK ||
	    rc == CURLE_WRITE_ERROR))
		return;
	if (code != 0)
		(void)snprintf(r->error, sizeof(r->error), "HTTP %ld", code);
	else
		(void)snprintf(r->error, sizeof(r->error), "%s",
		    curl_easy_strerror(rc));
}
