/*
 * jobaddr_test.c: the SSRF guard's address classifier and URL checks
 * (SECURITY.md SSRF-01): every non-public range, every odd spelling of an
 * IPv4 literal the C library accepts, IPv6 forms that embed IPv4, the
 * allow-list, and URL shapes (scheme, credentials, port, host).
 */

#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <string.h>

#include "job.h"
#include "ut.h"

/* Is the literal (any form inet_aton/inet_pton take) public? -1: none. */
static int
pub(const char *lit)
{
	struct sockaddr_storage	ss;

	if (jaddr_literal(lit, &ss) == -1)
		return (-1);
	return (jaddr_public((struct sockaddr *)&ss));
}

static void
test_refused_v4(void)
{
	static const char *const refused[] = {
		"0.0.0.0", "0.1.2.3", "10.0.0.1", "10.255.255.255",
		"100.64.0.1", "100.127.255.254", "127.0.0.1", "127.255.0.9",
		"169.254.169.254", "169.254.0.1", "172.16.0.1",
		"172.31.255.255", "192.0.0.8", "192.0.2.1", "192.88.99.1",
		"192.168.0.1", "192.168.255.255", "198.18.0.1", "198.19.9.9",
		"198.51.100.7", "203.0.113.9", "224.0.0.1", "239.255.255.250",
		"240.0.0.1", "255.255.255.255",
		/* odd spellings of loopback, private and metadata */
		"2130706433", "0177.0.0.1", "0x7f.1", "127.1", "0x7f000001",
		"017700000001", "0x7F.0.0.1", "127.0.1", "0", "0x0",
		"167772161", "012.0.0.1", "0xa.1", "10.1", "0xa9fea9fe",
		"2852039166", "0251.0376.0251.0376", "169.254.43518",
	};
	size_t	i;

	for (i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		if (pub(refused[i]) != 0)
			fprintf(stderr, "     not refused: %s\n", refused[i]);
		UT_EQ_INT(pub(refused[i]), 0);
	}
}

static void
test_public_v4(void)
{
	static const char *const ok[] = {
		"1.1.1.1", "8.8.8.8", "93.184.216.34", "100.63.255.255",
		"100.128.0.1", "172.15.255.255", "172.32.0.1", "192.167.1.1",
		"192.169.0.1", "169.253.1.1", "198.17.1.1", "198.20.0.1",
		"223.255.255.255", "11.0.0.1", "126.255.255.255", "128.0.0.1",
	};
	size_t	i;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		UT_EQ_INT(pub(ok[i]), 1);
}

static void
test_v6(void)
{
	static const char *const refused[] = {
		"::", "::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1",
		"::ffff:8.8.8.8", "::ffff:7f00:1", "::127.0.0.1", "::10.0.0.1",
		"64:ff9b::a00:1", "64:ff9b::808:808", "64:ff9b:1::1", "100::1",
		"2001:db8::1", "2002:7f00:1::1", "fc00::1", "fd12:3456::1",
		"fe80::1", "febf::1", "fec0::1", "ff02::1", "ff05::2",
	};
	static const char *const ok[] = {
		"2001:4860:4860::8888", "2606:4700:4700::1111", "2a00:1450::1",
		"2001:db9::1", "fbff::1", "64:ff9c::1",
	};
	size_t	i;

	for (i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		if (pub(refused[i]) != 0)
			fprintf(stderr, "     not refused: %s\n", refused[i]);
		UT_EQ_INT(pub(refused[i]), 0);
	}
	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		UT_EQ_INT(pub(ok[i]), 1);
	/* Not literals: names go to the resolver. */
	UT_EQ_INT(pub("example.com"), -1);
	UT_EQ_INT(pub("1.2.3.4.5"), -1);
	UT_EQ_INT(pub("256.1.1.1"), -1);
	UT_EQ_INT(pub(""), -1);
}

static void
test_allowlist(void)
{
	struct jaddr_allow	 al;
	struct sockaddr_storage	 ss;

	UT_EQ_INT(jaddr_allow_parse("", &al), 0);
	UT_EQ_INT(al.n, 0);
	UT_EQ_INT(jaddr_allow_parse("127.0.0.0/8, 10.1.0.0/16,::1/128", &al),
	    0);
	UT_EQ_INT(al.n, 3);
	(void)jaddr_literal("127.1", &ss);
	UT_EQ_INT(jaddr_allowed((struct sockaddr *)&ss, &al), 1);
	(void)jaddr_literal("10.1.200.3", &ss);
	UT_EQ_INT(jaddr_allowed((struct sockaddr *)&ss, &al), 1);
	(void)jaddr_literal("10.2.0.1", &ss);
	UT_EQ_INT(jaddr_allowed((struct sockaddr *)&ss, &al), 0);
	(void)jaddr_literal("::1", &ss);
	UT_EQ_INT(jaddr_allowed((struct sockaddr *)&ss, &al), 1);
	/* A mapped address is IPv6: the IPv4 entry does not cover it. */
	(void)jaddr_literal("::ffff:127.0.0.1", &ss);
	UT_EQ_INT(jaddr_allowed((struct sockaddr *)&ss, &al), 0);
	UT_EQ_INT(jaddr_allowed((struct sockaddr *)&ss, NULL), 0);
	UT_EQ_INT(jaddr_allow_parse("10.0.0.0/33", &al), -1);
	UT_EQ_INT(jaddr_allow_parse("10.0.0.0/", &al), -1);
	UT_EQ_INT(jaddr_allow_parse("10.1/16", &al), -1);
	UT_EQ_INT(jaddr_allow_parse("example.com/8", &al), -1);
	UT_EQ_INT(jaddr_allow_parse("::1/129", &al), -1);
	UT_EQ_INT(jaddr_allow_parse("0.0.0.0/0", &al), 0);
	(void)jaddr_literal("192.168.1.1", &ss);
	UT_EQ_INT(jaddr_allowed((struct sockaddr *)&ss, &al), 1);
}

static void
test_parse_url(void)
{
	struct jaddr_url	u;

	UT_EQ_INT(jaddr_parse_url("https://Hooks.Example.com/in?x=1", &u),
	    JADDR_OK);
	UT_EQ_STR(u.host, "hooks.example.com");
	UT_EQ_INT(u.port, 443);
	UT_EQ_INT(u.https, 1);
	UT_EQ_INT(jaddr_parse_url("http://[::1]:8080/x", &u), JADDR_OK);
	UT_EQ_STR(u.host, "::1");
	UT_EQ_INT(u.port, 8080);
	UT_EQ_INT(jaddr_parse_url("HTTP://a.b", &u), JADDR_OK);
	UT_EQ_INT(u.port, 80);
	UT_EQ_INT(jaddr_parse_url("ftp://a.b/", &u), JADDR_BAD_SCHEME);
	UT_EQ_INT(jaddr_parse_url("gopher://a.b/", &u), JADDR_BAD_SCHEME);
	UT_EQ_INT(jaddr_parse_url("a.b/x", &u), JADDR_BAD_URL);
	UT_EQ_INT(jaddr_parse_url("http://u:p@a.b/", &u), JADDR_CREDENTIALS);
	UT_EQ_INT(jaddr_parse_url("http://u@a.b/", &u), JADDR_CREDENTIALS);
	UT_EQ_INT(jaddr_parse_url("http://a.b:0/", &u), JADDR_BAD_PORT);
	UT_EQ_INT(jaddr_parse_url("http://a.b:65536/", &u), JADDR_BAD_PORT);
	UT_EQ_INT(jaddr_parse_url("http://a.b:/", &u), JADDR_BAD_PORT);
	UT_EQ_INT(jaddr_parse_url("http://a.b:8x/", &u), JADDR_BAD_PORT);
	UT_EQ_INT(jaddr_parse_url("http:///x", &u), JADDR_BAD_URL);
	UT_EQ_INT(jaddr_parse_url("http://a b/", &u), JADDR_BAD_URL);
	UT_EQ_INT(jaddr_parse_url("http://a.b/\x01", &u), JADDR_BAD_URL);
	UT_EQ_INT(jaddr_parse_url("http://a\\b/", &u), JADDR_BAD_URL);
	UT_EQ_INT(jaddr_parse_url("http://[::1/", &u), JADDR_BAD_URL);
	UT_EQ_INT(jaddr_parse_url("http://[::1]x/", &u), JADDR_BAD_URL);
	/* '@' after the authority is a path character, not credentials. */
	UT_EQ_INT(jaddr_parse_url("http://a.b/x@y", &u), JADDR_OK);
	UT_EQ_STR(u.host, "a.b");
}

static void
test_check_url(void)
{
	static const char *const refused[] = {
		"http://127.0.0.1/", "http://2130706433/", "http://0177.0.0.1/",
		"http://0x7f.1/", "http://127.1/", "http://[::1]/",
		"http://[::ffff:127.0.0.1]/", "http://0.0.0.0/", "http://[::]/",
		"http://169.254.169.254/latest/meta-data/", "http://10.0.0.1/",
		"http://100.64.0.1/", "http://[fe80::1]/", "http://[fd00::1]/",
		"http://localhost/", "http://LOCALHOST:8080/",
		"http://localhost./", "http://api.localhost/", "http://224.0.0.1/",
	};
	struct jaddr_allow	 al;
	const char		*why;
	size_t			 i;

	for (i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		why = NULL;
		UT_EQ_INT(jaddr_check_url(refused[i], NULL, &why),
		    JADDR_REFUSED);
		UT_CHECK(why != NULL);
	}
	UT_EQ_INT(jaddr_check_url("https://hooks.example.com/x", NULL, &why),
	    JADDR_OK);
	UT_EQ_INT(jaddr_check_url("https://8.8.8.8/x", NULL, &why), JADDR_OK);
	UT_EQ_INT(jaddr_check_url("https://[2001:4860::1]/", NULL, &why),
	    JADDR_OK);
	UT_EQ_INT(jaddr_check_url("http://1.2.3.4.5/", NULL, &why),
	    JADDR_BAD_URL);
	UT_EQ_INT(jaddr_check_url("http://999.1.1.1/", NULL, &why),
	    JADDR_BAD_URL);
	UT_EQ_INT(jaddr_check_url("http://host.0x1g/", NULL, &why),
	    JADDR_BAD_URL);
	UT_EQ_INT(jaddr_check_url("http://-x.com/", NULL, &why),
	    JADDR_BAD_URL);
	UT_EQ_INT(jaddr_check_url("http://a_b.example/", NULL, &why),
	    JADDR_OK);
	UT_EQ_INT(jaddr_check_url("http://ex%41mple.com/", NULL, &why),
	    JADDR_BAD_URL);
	UT_EQ_INT(jaddr_check_url("ftp://example.com/", NULL, &why),
	    JADDR_BAD_SCHEME);
	UT_EQ_INT(jaddr_check_url("http://u:p@example.com/", NULL, &why),
	    JADDR_CREDENTIALS);
	/* The allow-list opens exactly its ranges, in any spelling. */
	UT_EQ_INT(jaddr_allow_parse("127.0.0.0/8", &al), 0);
	UT_EQ_INT(jaddr_check_url("http://127.0.0.1:9/", &al, &why),
	    JADDR_OK);
	UT_EQ_INT(jaddr_check_url("http://2130706433/", &al, &why), JADDR_OK);
	UT_EQ_INT(jaddr_check_url("http://localhost/", &al, &why), JADDR_OK);
	UT_EQ_INT(jaddr_check_url("http://10.0.0.1/", &al, &why),
	    JADDR_REFUSED);
	UT_EQ_INT(jaddr_check_url("http://[::ffff:127.0.0.1]/", &al, &why),
	    JADDR_REFUSED);
	UT_EQ_INT(jaddr_check_url("http://[::1]/", &al, &why), JADDR_REFUSED);
}

int
main(void)
{
	UT_TEST(test_refused_v4);
	UT_TEST(test_public_v4);
	UT_TEST(test_v6);
	UT_TEST(test_allowlist);
	UT_TEST(test_parse_url);
	UT_TEST(test_check_url);
	return (ut_summary());
}
