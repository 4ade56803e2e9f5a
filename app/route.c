/*
 * route.c: route patterns and matching, without Kore.
 *
 * A pattern is "/v1/contacts/{id}": literal segments and {parameters}.  It
 * is split once when the table is built; a request path is split once and
 * compared segment by segment.  Kept apart from pipe.c so the matcher is
 * unit-tested on its own (route_test.c).
 */

#include <string.h>

#include "crm.h"

static void
route_entry_clear(struct route_pat *p)
{
	int	i;

	for (i = 0; i < p->nsegs; i++)
		xfree(p->segs[i]);
	p->nsegs = 0;
}

/*
 * Split a path into segments.  Empty segments ("//") and over-long ones
 * are refused, a single trailing slash is tolerated.  Returns the count or
 * -1.
 */
int
route_split(const char *path, char segs[ROUTE_MAXSEGS][ROUTE_SEGLEN])
{
	const char	*p = path, *e;
	size_t		 len;
	int		 n = 0;

	if (*p != '/')
		return (-1);
	while (*p == '/' && p[1] != '\0') {
		p++;
		e = strchr(p, '/');
		len = e ? (size_t)(e - p) : strlen(p);
		if (n == ROUTE_MAXSEGS || len == 0 || len >= ROUTE_SEGLEN)
			return (-1);
		memcpy(segs[n], p, len);
		segs[n++][len] = '\0';
		p += len;
	}
	return ((*p == '\0' || (*p == '/' && p[1] == '\0')) ? n : -1);
}

int
route_compile(struct route_pat *p, const char *pattern, int method)
{
	char	segs[ROUTE_MAXSEGS][ROUTE_SEGLEN];
	int	i, n;

	if ((n = route_split(pattern, segs)) == -1)
		return (-1);
	p->method = method;
	p->nsegs = n;
	for (i = 0; i < n; i++) {
		if (segs[i][0] == '{' && segs[i][strlen(segs[i]) - 1] == '}')
			p->segs[i] = NULL;
		else
			p->segs[i] = xstrdup(segs[i]);
	}
	return (0);
}

void
route_free(struct route_pat *p)
{
	route_entry_clear(p);
}

static int
route_same_shape(const struct route_pat *p, char segs[][ROUTE_SEGLEN], int n)
{
	int	i;

	if (p->nsegs != n)
		return (0);
	for (i = 0; i < n; i++) {
		if (p->segs[i] != NULL && strcmp(p->segs[i], segs[i]) != 0)
			return (0);
	}
	return (1);
}

/*
 * Find the pattern for (method, path).  Returns its index and copies the
 * parameters into m; -1 when none matches, with m->allowed holding the
 * methods of patterns that match the path (non-zero means 405, not 404).
 */
/* Literal segments: the more, the more specific the pattern. */
static int
route_literals(const struct route_pat *p)
{
	int	i, n = 0;

	for (i = 0; i < p->nsegs; i++)
		n += p->segs[i] != NULL;
	return (n);
}

/*
 * Among the patterns of the path's shape only the most specific resource
 * counts: /v1/accounts/batch is not /v1/accounts/{id}, so a GET there is
 * a 405 naming the batch's methods, not a lookup of the id "batch".
 */
int
route_match(const struct route_pat *pats, int npats, int method,
    const char *path, struct route_match *m)
{
	char	segs[ROUTE_MAXSEGS][ROUTE_SEGLEN];
	int	i, j, n, best = -1;

	memset(m, 0, sizeof(*m));
	if ((n = route_split(path, segs)) == -1)
		return (-1);
	for (i = 0; i < npats; i++) {
		if (route_same_shape(&pats[i], segs, n) &&
		    route_literals(&pats[i]) > best)
			best = route_literals(&pats[i]);
	}
	for (i = 0; i < npats; i++) {
		if (!route_same_shape(&pats[i], segs, n) ||
		    route_literals(&pats[i]) != best)
			continue;
		m->allowed |= pats[i].method;
		if (pats[i].method != method)
			continue;
		for (j = 0; j < n && m->nparams < ROUTE_MAXPARAMS; j++) {
			if (pats[i].segs[j] == NULL)
				memcpy(m->params[m->nparams++], segs[j],
				    ROUTE_SEGLEN);
		}
		return (i);
	}
	return (-1);
}
