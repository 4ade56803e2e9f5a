/*
 * csv_test.c: the streaming RFC 4180 reader on nasty inputs.  Each case
 * is written to a temporary file and read back as "f|f;f|f" (records
 * joined by ';', fields by '|', blank records as "<blank>").
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "imp.h"
#include "ut.h"

static char	t_err[200];
static char	t_out[400000];

static int
t_file(const void *in, size_t len)
{
	FILE	*f = tmpfile();
	int	 fd;

	if (f == NULL)
		abort();
	fd = dup(fileno(f));
	if (fwrite(in, 1, len, f) != len)
		abort();
	fclose(f);
	(void)lseek(fd, 0, SEEK_SET);
	return (fd);
}

/* The records of `in`; returns what csv_next last said. */
static int
t_read_n(const void *in, size_t len, size_t maxfield)
{
	struct csv	 c;
	int		 fd, i, rc;
	size_t		 n = 0;

	fd = t_file(in, len);
	csv_init(&c, fd, maxfield);
	t_out[0] = t_err[0] = '\0';
	while ((rc = csv_next(&c)) == 1) {
		if (n > 0)
			n += (size_t)snprintf(t_out + n, sizeof(t_out) - n,
			    ";");
		if (c.blank) {
			n += (size_t)snprintf(t_out + n, sizeof(t_out) - n,
			    "<blank>");
			continue;
		}
		for (i = 0; i < c.nf; i++)
			n += (size_t)snprintf(t_out + n, sizeof(t_out) - n,
			    "%s%s", i ? "|" : "", csv_field(&c, i));
	}
	if (rc == -1)
		(void)snprintf(t_err, sizeof(t_err), "%s", c.err);
	csv_free(&c);
	close(fd);
	return (rc);
}

static int
t_read(const char *in)
{
	return (t_read_n(in, strlen(in), 0));
}

static void
test_plain(void)
{
	UT_EQ_INT(t_read("a,b,c\n1,2,3\n"), 0);
	UT_EQ_STR(t_out, "a|b|c;1|2|3");
	UT_EQ_INT(t_read("a,b\n1,2"), 0);		/* no final line end */
	UT_EQ_STR(t_out, "a|b;1|2");
	UT_EQ_INT(t_read(""), 0);
	UT_EQ_STR(t_out, "");
	UT_EQ_INT(t_read("a,,c,\n"), 0);		/* empty fields */
	UT_EQ_STR(t_out, "a||c|");
}

static void
test_line_ends(void)
{
	UT_EQ_INT(t_read("a,b\r\n1,2\r\n"), 0);
	UT_EQ_STR(t_out, "a|b;1|2");
	UT_EQ_INT(t_read("a,b\r1,2\r"), 0);
	UT_EQ_STR(t_out, "a|b;1|2");
	UT_EQ_INT(t_read("a,b\n1,2\r\n3,4\r5,6"), 0);	/* mixed */
	UT_EQ_STR(t_out, "a|b;1|2;3|4;5|6");
	UT_EQ_INT(t_read("a\n\n\r\nb\n"), 0);		/* empty lines */
	UT_EQ_STR(t_out, "a;<blank>;<blank>;b");
}

static void
test_quotes(void)
{
	UT_EQ_INT(t_read("\"a,b\",c\n"), 0);
	UT_EQ_STR(t_out, "a,b|c");
	UT_EQ_INT(t_read("\"say \"\"hi\"\"\",x\n"), 0);
	UT_EQ_STR(t_out, "say \"hi\"|x");
	UT_EQ_INT(t_read("\"two\nlines\",\"cr\r\nlf\"\nnext\n"), 0);
	UT_EQ_STR(t_out, "two\nlines|cr\r\nlf;next");
	UT_EQ_INT(t_read("\"\",\"\"\"\"\n"), 0);	/* empty, one quote */
	UT_EQ_STR(t_out, "|\"");
	UT_EQ_INT(t_read("\"last\""), 0);		/* quoted at EOF */
	UT_EQ_STR(t_out, "last");
	UT_EQ_INT(t_read("\"ends in comma\","), 0);
	UT_EQ_STR(t_out, "ends in comma|");
}

static void
test_bom(void)
{
	UT_EQ_INT(t_read("\xef\xbb\xbfname,email\nA,a@x\n"), 0);
	UT_EQ_STR(t_out, "name|email;A|a@x");
	/* Only at offset 0: elsewhere it is just text (U+FEFF). */
	UT_EQ_INT(t_read("a\n\xef\xbb\xbf" "b\n"), 0);
	UT_EQ_STR(t_out, "a;\xef\xbb\xbf" "b");
	UT_EQ_INT(t_read("\xef\xbb\xbf"), 0);		/* BOM only */
	UT_EQ_STR(t_out, "");
}

static void
test_utf8(void)
{
	UT_EQ_INT(t_read("Zoë,Ünïcødé,日本,🙂\n"), 0);
	UT_EQ_STR(t_out, "Zoë|Ünïcødé|日本|🙂");
	UT_EQ_INT(t_read("name\nok\nbad\xff here\n"), -1);
	UT_EQ_STR(t_err, "row 3 (line 3, byte 11): invalid UTF-8 (byte 0xff)");
	UT_EQ_INT(t_read("a\n\xc0\xaf\n"), -1);		/* overlong '/' */
	UT_CHECK(strstr(t_err, "row 2 (line 2, byte 2)") != NULL);
	UT_EQ_INT(t_read("a\n\xed\xa0\x80\n"), -1);	/* a surrogate */
	UT_CHECK(strstr(t_err, "byte 3)") != NULL);
	UT_EQ_INT(t_read("a\n\xf4\x90\x80\x80\n"), -1);	/* > U+10FFFF */
	UT_CHECK(strstr(t_err, "invalid UTF-8") != NULL);
	UT_EQ_INT(t_read("a\nb\xc3"), -1);		/* cut at EOF */
	UT_CHECK(strstr(t_err, "ends inside a UTF-8") != NULL);
	UT_EQ_INT(t_read("\"q\xe9\"\n"), -1);		/* Latin-1 é */
	UT_CHECK(strstr(t_err, "byte 3)") != NULL);	/* where it broke */
	UT_EQ_INT(t_read_n("a\nb\0c\n", 6, 0), -1);
	UT_CHECK(strstr(t_err, "NUL") != NULL);
}

static void
test_errors(void)
{
	UT_EQ_INT(t_read("a,b\n1,\"open\n2,3\n"), -1);
	UT_EQ_STR(t_err, "row 2 (line 2, byte 6): a quoted field is never "
	    "closed (the file ends inside it)");
	UT_EQ_INT(t_read("a\nx\"y\n"), -1);
	UT_CHECK(strstr(t_err, "row 2 (line 2, byte 3): a quote inside an "
	    "unquoted") != NULL);
	UT_EQ_INT(t_read("a\n\"x\"y\n"), -1);
	UT_CHECK(strstr(t_err, "byte 5): text after a closing quote") !=
	    NULL);
	/* Line and row differ after a field spanning lines. */
	UT_EQ_INT(t_read("h\n\"1\n2\n3\"\nbad\"\n"), -1);
	UT_CHECK(strstr(t_err, "row 3 (line 5,") != NULL);
}

static void
test_ragged_and_caps(void)
{
	char	*big;
	size_t	 i;

	UT_EQ_INT(t_read("a,b,c\n1\n1,2,3,4\n"), 0);	/* caller decides */
	UT_EQ_STR(t_out, "a|b|c;1;1|2|3|4");
	UT_EQ_INT(t_read_n("abcdef\n", 7, 6), 0);
	UT_EQ_INT(t_read_n("abcdefg\n", 8, 6), -1);
	UT_CHECK(strstr(t_err, "a field longer than 6 bytes") != NULL);
	/* A field crossing many buffer refills. */
	big = malloc(300001);
	big[0] = '"';
	for (i = 1; i < 299999; i++)
		big[i] = i % 1000 == 0 ? ',' : 'x';
	big[299999] = '"';
	big[300000] = '\0';
	UT_EQ_INT(t_read_n(big, 300000, 0), -1);	/* over 256 KiB */
	UT_EQ_INT(t_read_n(big, 300000, 400000), 0);
	UT_EQ_INT(strlen(t_out), 299998);
	free(big);
}

/* Resuming at csv_offset() gives the same records and row numbers. */
static void
test_seek(void)
{
	const char	*in = "h1,h2\r\n\"a\nb\",1\r\nc,2\r\nd,3\r\n";
	struct csv	 c;
	off_t		 off;
	long long	 row, line;
	int		 fd;

	fd = t_file(in, strlen(in));
	csv_init(&c, fd, 0);
	UT_EQ_INT(csv_next(&c), 1);
	UT_EQ_INT(csv_next(&c), 1);
	UT_EQ_STR(csv_field(&c, 0), "a\nb");
	off = csv_offset(&c);
	row = c.row;
	line = c.next_line;
	UT_EQ_INT(row, 2);
	UT_EQ_INT(line, 4);
	UT_EQ_INT(csv_seek(&c, 0, 0, 1), 0);	/* the header again */
	UT_EQ_INT(csv_next(&c), 1);
	UT_EQ_STR(csv_field(&c, 1), "h2");
	UT_EQ_INT(csv_seek(&c, off, row, line), 0);
	UT_EQ_INT(csv_next(&c), 1);
	UT_EQ_STR(csv_field(&c, 0), "c");
	UT_EQ_INT(c.row, 3);
	UT_EQ_INT(c.line, 4);
	UT_EQ_INT(csv_next(&c), 1);
	UT_EQ_STR(csv_field(&c, 1), "3");
	UT_EQ_INT(csv_next(&c), 0);
	UT_CHECK(csv_field(&c, 5) == NULL);
	csv_free(&c);
	close(fd);
}

int
main(void)
{
	UT_TEST(test_plain);
	UT_TEST(test_line_ends);
	UT_TEST(test_quotes);
	UT_TEST(test_bom);
	UT_TEST(test_utf8);
	UT_TEST(test_errors);
	UT_TEST(test_ragged_and_caps);
	UT_TEST(test_seek);
	return (ut_summary());
}
