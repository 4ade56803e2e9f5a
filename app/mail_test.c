/*
 * mail_test.c: addresses, header encoding, quoted-printable and the
 * message builder of mail.c (line lengths, injection refused).
 */

#include <string.h>

#include "mail.h"
#include "ut.h"

static void
test_addr(void)
{
	UT_EQ_INT(mail_addr_ok("ada@example.com"), 1);
	UT_EQ_INT(mail_addr_ok("first.last+tag@mail.example.co.uk"), 1);
	UT_EQ_INT(mail_addr_ok("o'brien@example.com"), 1);
	UT_EQ_INT(mail_addr_ok(""), 0);
	UT_EQ_INT(mail_addr_ok("no-at.example.com"), 0);
	UT_EQ_INT(mail_addr_ok("a@b@example.com"), 0);
	UT_EQ_INT(mail_addr_ok("a@localhost"), 0);
	UT_EQ_INT(mail_addr_ok(".a@example.com"), 0);
	UT_EQ_INT(mail_addr_ok("a..b@example.com"), 0);
	UT_EQ_INT(mail_addr_ok("a@example..com"), 0);
	UT_EQ_INT(mail_addr_ok("a b@example.com"), 0);
	UT_EQ_INT(mail_addr_ok("a@example.com\r\nRCPT TO:<x@y.z>"), 0);
	UT_EQ_INT(mail_addr_ok("a@example.com>"), 0);
	UT_EQ_INT(mail_addr_ok("\"q\"@example.com"), 0);
	UT_EQ_INT(mail_addr_ok("a@exa_mple.com"), 0);
	UT_EQ_STR(mail_domain("a@example.com"), "example.com");
}

static void
test_header(void)
{
	struct buf	b;

	buf_init(&b, 64);
	mail_header(&b, "Subject", "Hello there");
	UT_EQ_STR(buf_cstr(&b), "Subject: Hello there\r\n");
	buf_reset(&b);
	mail_header(&b, "Subject", "Grüße");
	UT_EQ_STR(buf_cstr(&b), "Subject: =?UTF-8?B?R3LDvMOfZQ==?=\r\n");
	buf_reset(&b);
	/* 31 two-byte characters: 62 bytes, two words of whole chars. */
	mail_header(&b, "Subject", "ééééééééééééééééééééééééééééééé");
	UT_CHECK(strstr(buf_cstr(&b), "?=\r\n =?UTF-8?B?") != NULL);
	UT_CHECK(strlen(buf_cstr(&b)) > 0 && strchr(buf_cstr(&b), '\n') -
	    buf_cstr(&b) <= 78);
	buf_reset(&b);
	mail_date(&b, 0);
	UT_EQ_STR(buf_cstr(&b), "Thu, 01 Jan 1970 00:00:00 +0000");
	buf_free(&b);
}

static void
test_qp(void)
{
	struct buf	b;
	char		line[300];
	const char	*p, *nl;
	size_t		i;

	buf_init(&b, 64);
	mail_qp(&b, "a=b \xc3\xa9\n", 7);
	UT_EQ_STR(buf_cstr(&b), "a=3Db =C3=A9\r\n\r\n");
	buf_reset(&b);
	mail_qp(&b, "end \nx\r\ny\rz", 11);
	UT_EQ_STR(buf_cstr(&b), "end=20\r\nx\r\ny=0Dz\r\n");
	buf_reset(&b);
	for (i = 0; i < sizeof(line) - 1; i++)
		line[i] = (char)('a' + i % 26);
	line[sizeof(line) - 1] = '\0';
	mail_qp(&b, line, strlen(line));
	for (p = buf_cstr(&b); (nl = strstr(p, "\r\n")) != NULL; p = nl + 2)
		UT_CHECK(nl - p <= 76);
	buf_free(&b);
}

static void
test_build(void)
{
	struct mail_msg	 m;
	struct buf	 b;
	const char	*why, *p, *nl;
	char		 big[4000];

	memset(&m, 0, sizeof(m));
	m.from = "crm@example.com";
	m.from_name = "Acme \"Inc\"";
	m.to = "ada@example.org";
	m.reply_to = "sales@example.com";
	m.subject = "Bonjour Zoë";
	m.text = "Hi\n";
	m.html = "<p>Hi</p>";
	m.id = "0190-job";
	m.date = 86400;
	m.boundary = "=_crm_test";
	buf_init(&b, 512);
	UT_EQ_INT(mail_build(&m, &b, &why), 0);
	p = buf_cstr(&b);
	UT_CHECK(strncmp(p, "Date: Fri, 02 Jan 1970 00:00:00 +0000\r\n", 39) ==
	    0);
	UT_CHECK(strstr(p, "From: \"Acme \\\"Inc\\\"\"\r\n <crm@example.com>\r\n")
	    != NULL);
	UT_CHECK(strstr(p, "To: <ada@example.org>\r\n") != NULL);
	UT_CHECK(strstr(p, "Reply-To: <sales@example.com>\r\n") != NULL);
	UT_CHECK(strstr(p, "Subject: =?UTF-8?B?Qm9uam91ciBab8Or?=\r\n") !=
	    NULL);
	UT_CHECK(strstr(p, "Message-ID: <0190-job@example.com>\r\n") != NULL);
	UT_CHECK(strstr(p, "boundary=\"=_crm_test\"") != NULL);
	UT_CHECK(strstr(p, "--=_crm_test\r\nContent-Type: text/html; "
	    "charset=UTF-8\r\n") != NULL);
	UT_CHECK(strstr(p, "\r\n--=_crm_test--\r\n") != NULL);
	UT_CHECK(strstr(p, "\n") == strstr(p, "\r\n") + 1);

	/* A long body and a long non-ASCII subject: no line over 998. */
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	m.text = big;
	m.html = NULL;
	m.subject = "Ünïcödé ünïcödé ünïcödé ünïcödé ünïcödé ünïcödé "
	    "ünïcödé ünïcödé ünïcödé ünïcödé ünïcödé ünïcödé";
	buf_reset(&b);
	UT_EQ_INT(mail_build(&m, &b, &why), 0);
	for (p = buf_cstr(&b); (nl = strstr(p, "\r\n")) != NULL; p = nl + 2)
		UT_CHECK(nl - p <= 78);
	UT_CHECK(strstr(buf_cstr(&b), "multipart") == NULL);

	/* Injection through the subject, a name or an address: refused. */
	m.subject = "Hi\r\nBcc: victim@example.net";
	buf_reset(&b);
	UT_EQ_INT(mail_build(&m, &b, &why), -1);
	UT_CHECK(strstr(why, "injection") != NULL);
	m.subject = "Hi\nBcc: victim@example.net";
	UT_EQ_INT(mail_build(&m, &b, &why), -1);
	m.subject = "Hi";
	m.from_name = "Eve\r\nBcc: x@example.net";
	UT_EQ_INT(mail_build(&m, &b, &why), -1);
	m.from_name = NULL;
	m.to = "ada@example.org\r\nBcc: x@example.net";
	UT_EQ_INT(mail_build(&m, &b, &why), -1);
	UT_CHECK(strstr(why, "recipient") != NULL);
	m.to = "ada@example.org";
	m.reply_to = "x@y.z>\r\nBcc: q@example.net";
	UT_EQ_INT(mail_build(&m, &b, &why), -1);
	buf_free(&b);
}

int
main(void)
{
	UT_TEST(test_addr);
	UT_TEST(test_header);
	UT_TEST(test_qp);
	UT_TEST(test_build);
	return (ut_summary());
}
