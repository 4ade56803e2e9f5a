/*
 * jobaddr.c: webhook target URLs and the SSRF guard (SECURITY.md SSRF-01,
 * 3.5).
 *
 * A target is checked twice.  At subscription time jaddr_check_url()
 * refuses what can be judged from the URL alone: schemes other than http
 * and https, credentials, "localhost", and any address literal that is
 * not public, in every spelling the C library would also accept (inet_aton:
 * 2130706433, 0177.0.0.1, 0x7f.1, 127.1) and in IPv6 ([::1],
 * [::ffff:127.0.0.1]).  At delivery time the worker checks every address
 * the name resolved to, just before connecting to exactly that address
 * (jobhook.c), which defeats DNS rebinding.  An address inside the
 * operator's CRM_WEBHOOK_ALLOWLIST passes both.
 */

#include <sys/types.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "job.h"

/* Not routable to the public Internet, or not meant as a target. */
static const struct {
	int		 family;
	const char	*net;
	int		 bits;
} jaddr_refused[] = {
	{ AF_INET, "0.0.0.0", 8 },		/* "this network", 0.0.0.0 */
	{ AF_INET, "10.0.0.0", 8 },		/* RFC 1918 */
	{ AF_INET, "100.64.0.0", 10 },		/* CGNAT, RFC 6598 */
	{ AF_INET, "127.0.0.0", 8 },		/* loopback */
	{ AF_INET, "169.254.0.0", 16 },		/* link-local, metadata */
	{ AF_INET, "172.16.0.0", 12 },		/* RFC 1918 */
	{ AF_INET, "192.0.0.0", 24 },		/* IETF protocol assignments */
	{ AF_INET, "192.0.2.0", 24 },		/* TEST-NET-1 */
	{ AF_INET, "192.88.99.0", 24 },		/* 6to4 relay anycast */
	{ AF_INET, "192.168.0.0", 16 },		/* RFC 1918 */
	{ AF_INET, "198.18.0.0", 15 },		/* benchmarking */
	{ AF_INET, "198.51.100.0", 24 },	/* TEST-NET-2 */
	{ AF_INET, "203.0.113.0", 24 },		/* TEST-NET-3 */
	{ AF_INET, "224.0.0.0", 4 },		/* multicast */
	{ AF_INET, "240.0.0.0", 4 },		/* reserved, broadcast */
	{ AF_INET6, "::", 96 },			/* ::, ::1, IPv4-compatible */
	{ AF_INET6, "::ffff:0:0", 96 },		/* IPv4-mapped */
	{ AF_INET6, "64:ff9b::", 96 },		/* NAT64: embeds any IPv4 */
	{ AF_INET6, "64:ff9b:1::", 48 },	/* local-use NAT64 */
	{ AF_INET6, "100::", 64 },		/* discard */
	{ AF_INET6, "2001:db8::", 32 },		/* documentation */
	{ AF_INET6, "2002::", 16 },		/* 6to4: embeds any IPv4 */
	{ AF_INET6, "fc00::", 7 },		/* unique local */
	{ AF_INET6, "fe80::", 10 },		/* link-local */
	{ AF_INET6, "fec0::", 10 },		/* site-local (deprecated) */
	{ AF_INET6, "ff00::", 8 },		/* multicast */
};

#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))

static int
jaddr_prefix_eq(const uint8_t *a, const uint8_t *b, int bits)
{
	int		full = bits / 8, rest = bits % 8;
	uint8_t		mask;

	if (memcmp(a, b, (size_t)full) != 0)
		return (0);
	if (rest == 0)
		return (1);
	mask = (uint8_t)(0xff << (8 - rest));
	return ((a[full] & mask) == (b[full] & mask));
}

/* The raw address bytes of a sockaddr: 4 or 16, or 0 for other families. */
static size_t
jaddr_bytes(const struct sockaddr *sa, const uint8_t **p)
{
	if (sa->sa_family == AF_INET) {
		*p = (const uint8_t *)
		    &((const struct sockaddr_in *)(const void *)sa)->sin_addr;
		return (4);
	}
	if (sa->sa_family == AF_INET6) {
		*p = ((const struct sockaddr_in6 *)(const void *)sa)->
		    sin6_addr.s6_addr;
		return (16);
	}
	return (0);
}

int
jaddr_public(const struct sockaddr *sa)
{
	const uint8_t	*a;
	uint8_t		 net[16];
	size_t		 i;

	if (jaddr_bytes(sa, &a) == 0)
		return (0);
	for (i = 0; i < NELEM(jaddr_refused); i++) {
		if (jaddr_refused[i].family != sa->sa_family)
			continue;
		if (inet_pton(jaddr_refused[i].family, jaddr_refused[i].net,
		    net) != 1)
			return (0);
		if (jaddr_prefix_eq(a, net, jaddr_refused[i].bits))
			return (0);
	}
	return (1);
}

int
jaddr_allowed(const struct sockaddr *sa, const struct jaddr_allow *al)
{
	const uint8_t	*a;
	int		 i;

	if (al == NULL || jaddr_bytes(sa, &a) == 0)
		return (0);
	for (i = 0; i < al->n; i++) {
		if (al->net[i].family == sa->sa_family &&
		    jaddr_prefix_eq(a, al->net[i].addr, al->net[i].bits))
			return (1);
	}
	return (0);
}

/* "10.0.0.0/8, ::1/128": strict inet_pton forms only; "" is empty. */
int
jaddr_allow_parse(const char *list, struct jaddr_allow *al)
{
	char		*copy, *tok, *save, *slash, *end;
	long		 bits;
	int		 max, rc = 0;

	memset(al, 0, sizeof(*al));
	copy = xstrdup(list);
	for (tok = strtok_r(copy, ",", &save); tok != NULL;
	    tok = strtok_r(NULL, ",", &save)) {
		while (*tok == ' ')
			tok++;
		for (end = tok + strlen(tok); end > tok && end[-1] == ' ';)
			*--end = '\0';
		if (*tok == '\0')
			continue;
		if (al->n == (int)NELEM(al->net)) {
			rc = -1;
			break;
		}
		al->net[al->n].family = strchr(tok, ':') ? AF_INET6 : AF_INET;
		max = al->net[al->n].family == AF_INET ? 32 : 128;
		bits = max;
		if ((slash = strchr(tok, '/')) != NULL) {
			*slash++ = '\0';
			bits = strtol(slash, &end, 10);
			if (*slash == '\0' || *end != '\0' || bits < 0 ||
			    bits > max) {
				rc = -1;
				break;
			}
		}
		if (inet_pton(al->net[al->n].family, tok,
		    al->net[al->n].addr) != 1) {
			rc = -1;
			break;
		}
		al->net[al->n++].bits = (int)bits;
	}
	xfree(copy);
	return (rc);
}

/*
 * An address literal as the resolver would read it: IPv6 (the caller has
 * removed the brackets) or any IPv4 form inet_aton() takes.  0 when host
 * is a literal (out filled), -1 when it is a name.
 */
int
jaddr_literal(const char *host, struct sockaddr_storage *out)
{
	struct sockaddr_in	*s4 = (struct sockaddr_in *)(void *)out;
	struct sockaddr_in6	*s6 = (struct sockaddr_in6 *)(void *)out;

	memset(out, 0, sizeof(*out));
	if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		return (0);
	}
	if (inet_aton(host, &s4->sin_addr) != 0) {
		s4->sin_family = AF_INET;
		return (0);
	}
	return (-1);
}

/* Everything but the authority must still be printable, unspaced ASCII. */
static int
jaddr_chars_ok(const char *s)
{
	for (; *s != '\0'; s++) {
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f ||
		    *s == '\\')
			return (0);
	}
	return (1);
}

static int
jaddr_port(const char *s, size_t len, int *port)
{
	size_t		i;
	long		v = 0;

	if (len == 0 || len > 5)
		return (-1);
	for (i = 0; i < len; i++) {
		if (!isdigit((unsigned char)s[i]))
			return (-1);
		v = v * 10 + (s[i] - '0');
	}
	if (v < 1 || v > 65535)
		return (-1);
	*port = (int)v;
	return (0);
}

/* The host of a name: letters, digits, '-', '.', '_' only. */
static int
jaddr_name_ok(const char *h)
{
	const char	*last;

	if (*h == '\0' || *h == '.' || *h == '-')
		return (0);
	if (strspn(h, "abcdefghijklmnopqrstuvwxyz0123456789-._") != strlen(h))
		return (0);
	/* A name whose last label is numeric would be read as an address. */
	last = strrchr(h, '.');
	last = last == NULL ? h : last + 1;
	if (*last == '\0')
		return (0);
	if (strspn(last, "0123456789") == strlen(last) ||
	    strncmp(last, "0x", 2) == 0)
		return (0);
	return (1);
}

int
jaddr_parse_url(const char *url, struct jaddr_url *u)
{
	const char	*p, *auth, *end, *hend, *colon = NULL;
	size_t		 hlen, i;

	memset(u, 0, sizeof(*u));
	if (!jaddr_chars_ok(url))
		return (JADDR_BAD_URL);
	if (strncasecmp(url, "https://", 8) == 0) {
		u->https = 1;
		auth = url + 8;
	} else if (strncasecmp(url, "http://", 7) == 0) {
		auth = url + 7;
	} else {
		return (strstr(url, "://") != NULL ? JADDR_BAD_SCHEME :
		    JADDR_BAD_URL);
	}
	u->port = u->https ? 443 : 80;
	end = auth + strcspn(auth, "/?#");
	for (p = auth; p < end; p++) {
		if (*p == '@')
			return (JADDR_CREDENTIALS);
	}
	if (*auth == '[') {
		if ((hend = memchr(auth, ']', (size_t)(end - auth))) == NULL)
			return (JADDR_BAD_URL);
		p = hend + 1;
		auth++;
		if (p < end && *p != ':')
			return (JADDR_BAD_URL);
		colon = p < end ? p : NULL;
	} else {
		colon = memchr(auth, ':', (size_t)(end - auth));
		hend = colon != NULL ? colon : end;
	}
	hlen = (size_t)(hend - auth);
	if (hlen == 0 || hlen >= sizeof(u->host))
		return (JADDR_BAD_URL);
	for (i = 0; i < hlen; i++)
		u->host[i] = (char)tolower((unsigned char)auth[i]);
	if (colon != NULL && jaddr_port(colon + 1, (size_t)(end - colon - 1),
	    &u->port) == -1)
		return (JADDR_BAD_PORT);
	return (JADDR_OK);
}

/*
 * The subscription-time check.  Returns JADDR_OK or a JADDR_* code with a
 * client-safe reason in *why.
 */
int
jaddr_check_url(const char *url, const struct jaddr_allow *al,
    const char **why)
{
	struct jaddr_url	 u;
	struct sockaddr_storage	 ss;
	char			*h;
	size_t			 len;
	int			 rc;

	switch ((rc = jaddr_parse_url(url, &u))) {
	case JADDR_OK:
		break;
	case JADDR_BAD_SCHEME:
		*why = "only http and https URLs";
		return (rc);
	case JADDR_CREDENTIALS:
		*why = "credentials in the URL are not allowed";
		return (rc);
	case JADDR_BAD_PORT:
		*why = "the port must be 1..65535";
		return (rc);
	default:
		*why = "an absolute http(s) URL";
		return (rc);
	}
	h = u.host;
	len = strlen(h);
	if (len > 0 && h[len - 1] == '.')	/* "localhost." */
		h[--len] = '\0';
	if (strcmp(h, "localhost") == 0 || (len > 10 &&
	    strcmp(h + len - 10, ".localhost") == 0))
		h = strcpy(u.host, "127.0.0.1");
	if (jaddr_literal(h, &ss) == 0) {
		if (jaddr_allowed((struct sockaddr *)&ss, al) ||
		    jaddr_public((struct sockaddr *)&ss))
			return (JADDR_OK);
		*why = "the target is a loopback, private, link-local or "
		    "otherwise non-public address";
		return (JADDR_REFUSED);
	}
	if (!jaddr_name_ok(h)) {
		*why = "an absolute http(s) URL with a valid host";
		return (JADDR_BAD_URL);
	}
	return (JADDR_OK);
}
