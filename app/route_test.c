/*
 * route_test.c: the pipeline's route matcher (route.c): literal and
 * parameter segments, 404 versus 405, malformed paths, parameter capture.
 */

#include <string.h>

#include "crm.h"
#include "ut.h"

#define M_GET		0x01
#define M_POST		0x02
#define M_PATCH		0x80
#define M_DELETE	0x10

static const struct {
	int		 method;
	const char	*path;
} table[] = {
	{ M_GET,	"/healthz" },
	{ M_GET,	"/v1/contacts" },
	{ M_POST,	"/v1/contacts" },
	{ M_GET,	"/v1/contacts/{id}" },
	{ M_PATCH,	"/v1/contacts/{id}" },
	{ M_DELETE,	"/v1/contacts/{id}" },
	{ M_POST,	"/v1/contacts/{id}/restore" },
	{ M_POST,	"/v1/leads/{id}/convert" },
	{ M_GET,	"/v1/teams/{id}/members/{user}" },
	{ M_POST,	"/v1/contacts/batch" },
};

#define NPATS	((int)(sizeof(table) / sizeof(table[0])))

static struct route_pat	pats[NPATS];

static void
build(void)
{
	int	i;

	for (i = 0; i < NPATS; i++)
		UT_EQ_INT(route_compile(&pats[i], table[i].path,
		    table[i].method), 0);
}

/* A literal segment beats a parameter: /batch is its own resource. */
static void
test_specific(void)
{
	struct route_match	m;

	UT_EQ_INT(route_match(pats, NPATS, M_POST, "/v1/contacts/batch", &m),
	    NPATS - 1);
	UT_EQ_INT(m.nparams, 0);
	UT_EQ_INT(route_match(pats, NPATS, M_GET, "/v1/contacts/batch", &m),
	    -1);
	UT_EQ_INT(m.allowed, M_POST);
	UT_EQ_INT(route_match(pats, NPATS, M_GET, "/v1/contacts/batcH", &m),
	    3);
	UT_EQ_STR(m.params[0], "batcH");
}

static void
test_literal(void)
{
	struct route_match	m;

	UT_EQ_INT(route_match(pats, NPATS, M_GET, "/healthz", &m), 0);
	UT_EQ_INT(m.nparams, 0);
	UT_EQ_INT(route_match(pats, NPATS, M_GET, "/healthz/", &m), 0);
	UT_EQ_INT(route_match(pats, NPATS, M_GET, "/v1/contacts", &m), 1);
	UT_EQ_INT(route_match(pats, NPATS, M_POST, "/v1/contacts", &m), 2);
}

static void
test_params(void)
{
	struct route_match	m;

	UT_EQ_INT(route_match(pats, NPATS, M_PATCH, "/v1/contacts/abc", &m), 4);
	UT_EQ_INT(m.nparams, 1);
	UT_EQ_STR(m.params[0], "abc");
	UT_EQ_INT(route_match(pats, NPATS, M_POST,
	    "/v1/contacts/x1/restore", &m), 6);
	UT_EQ_STR(m.params[0], "x1");
	UT_EQ_INT(route_match(pats, NPATS, M_GET,
	    "/v1/teams/t1/members/u2", &m), 8);
	UT_EQ_INT(m.nparams, 2);
	UT_EQ_STR(m.params[0], "t1");
	UT_EQ_STR(m.params[1], "u2");
}

static void
test_not_found_vs_not_allowed(void)
{
	struct route_match	m;

	UT_EQ_INT(route_match(pats, NPATS, M_GET, "/v1/nothing", &m), -1);
	UT_EQ_INT(m.allowed, 0);
	UT_EQ_INT(route_match(pats, NPATS, M_DELETE, "/healthz", &m), -1);
	UT_EQ_INT(m.allowed, M_GET);
	UT_EQ_INT(route_match(pats, NPATS, M_POST, "/v1/contacts/abc", &m),
	    -1);
	UT_EQ_INT(m.allowed, M_GET | M_PATCH | M_DELETE);
	UT_EQ_INT(route_match(pats, NPATS, M_GET, "/v1/leads/1/convert", &m),
	    -1);
	UT_EQ_INT(m.allowed, M_POST);
}

static void
test_malformed(void)
{
	struct route_match	m;
	char			long_seg[300];

	UT_EQ_INT(route_match(pats, NPATS, M_GET, "", &m), -1);
	UT_EQ_INT(route_match(pats, NPATS, M_GET, "healthz", &m), -1);
	UT_EQ_INT(route_match(pats, NPATS, M_GET, "//healthz", &m), -1);
	UT_EQ_INT(route_match(pats, NPATS, M_GET, "/v1//contacts", &m), -1);
	UT_EQ_INT(route_match(pats, NPATS, M_GET, "/v1/contacts//", &m), -1);
	UT_EQ_INT(route_match(pats, NPATS, M_GET, "/a/b/c/d/e/f/g/h/i", &m),
	    -1);
	memset(long_seg, 'a', sizeof(long_seg));
	long_seg[0] = '/';
	long_seg[sizeof(long_seg) - 1] = '\0';
	UT_EQ_INT(route_match(pats, NPATS, M_GET, long_seg, &m), -1);
	UT_EQ_INT(m.allowed, 0);
}

static void
test_bad_patterns(void)
{
	struct route_pat	p;

	UT_EQ_INT(route_compile(&p, "no-slash", M_GET), -1);
	UT_EQ_INT(route_compile(&p, "/a//b", M_GET), -1);
	UT_EQ_INT(route_compile(&p, "/", M_GET), 0);
	UT_EQ_INT(p.nsegs, 0);
	route_free(&p);
}

int
main(void)
{
	int	i;

	UT_TEST(build);
	UT_TEST(test_literal);
	UT_TEST(test_specific);
	UT_TEST(test_params);
	UT_TEST(test_not_found_vs_not_allowed);
	UT_TEST(test_malformed);
	UT_TEST(test_bad_patterns);
	for (i = 0; i < NPATS; i++)
		route_free(&pats[i]);
	return (ut_summary());
}
