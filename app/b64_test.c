/*
 * b64_test.c: unit tests for b64.c: RFC 4648 vectors in the url alphabet,
 * buffer sizes, strict decoding, and round trips of every length.
 */

#include <string.h>

#include "crm.h"
#include "ut.h"

static void
test_vectors(void)
{
	static const char *const	v[][2] = {
		{ "", "" }, { "f", "Zg" }, { "fo", "Zm8" }, { "foo", "Zm9v" },
		{ "foob", "Zm9vYg" }, { "fooba", "Zm9vYmE" },
		{ "foobar", "Zm9vYmFy" },
	};
	char				out[16];
	uint8_t				dec[16];
	size_t				i, n;

	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		n = b64url_encode(v[i][0], strlen(v[i][0]), out, sizeof(out));
		UT_EQ_INT(n, strlen(v[i][1]));
		UT_EQ_STR(out, v[i][1]);
		UT_EQ_INT(b64url_decode(v[i][1], strlen(v[i][1]), dec,
		    sizeof(dec)), strlen(v[i][0]));
		UT_CHECK(memcmp(dec, v[i][0], strlen(v[i][0])) == 0);
	}

	/* 0xfb 0xff uses both url characters where base64 has + and /. */
	n = b64url_encode("\xfb\xff\xbf", 3, out, sizeof(out));
	UT_EQ_STR(out, "-_-_");
	UT_EQ_INT(b64url_decode("-_-_", 4, dec, sizeof(dec)), 3);
	UT_CHECK(memcmp(dec, "\xfb\xff\xbf", 3) == 0);
}

static void
test_sizes(void)
{
	char		out[16];
	uint8_t		dec[8];

	/* "foobar" needs 8 characters and the NUL. */
	UT_EQ_INT(b64url_encode("foobar", 6, out, 8), 0);
	UT_EQ_INT(b64url_encode("foobar", 6, out, 9), 8);
	UT_EQ_INT(b64url_encode("f", 1, out, 2), 0);
	UT_EQ_INT(b64url_encode("f", 1, out, 3), 2);
	UT_EQ_STR(out, "Zg");
	UT_EQ_INT(b64url_encode("", 0, out, 0), 0);

	UT_EQ_INT(b64url_decode("Zm9vYmFy", 8, dec, 5), -1);
	UT_EQ_INT(b64url_decode("Zm9vYmFy", 8, dec, 6), 6);
	UT_EQ_INT(b64url_decode("Zm9vYmE", 7, dec, 4), -1);
	UT_EQ_INT(b64url_decode("Zm9vYmE", 7, dec, 5), 5);
	UT_EQ_INT(b64url_decode("", 0, dec, 0), 0);
}

static void
test_strict(void)
{
	static const char *const	bad[] = {
		"Zg==", "Zm8=", "Z", "Zm9vY", "Zm+v", "Zm/v", "Zm9 v",
		"Zm9v\n", " Zm9v", "Zm9v=", "Zm\x00v", "Zm9\xc3\xa9",
		"Zh", "Zm9", "====", "Zm.v",
	};
	uint8_t				dec[16];
	size_t				i, len;
	int				accepted = 0;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		len = strlen(bad[i]);
		if (i == 10)
			len = 4;	/* embedded NUL */
		if (b64url_decode(bad[i], len, dec, sizeof(dec)) != -1) {
			fprintf(stderr, "     accepted \"%s\"\n", bad[i]);
			accepted++;
		}
	}
	UT_EQ_INT(accepted, 0);
}

static void
test_roundtrip(void)
{
	uint8_t		in[300], dec[300];
	char		out[402];
	size_t		len, n;
	int		bad = 0;

	UT_CHECK(crm_random(in, sizeof(in)) == 0);
	for (len = 0; len <= sizeof(in); len++) {
		n = b64url_encode(in, len, out, sizeof(out));
		if (n != (len * 4 + 2) / 3 || strlen(out) != n ||
		    strspn(out, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrst"
		    "uvwxyz0123456789-_") != n)
			bad++;
		if (b64url_decode(out, n, dec, len) != (ssize_t)len ||
		    memcmp(in, dec, len) != 0)
			bad++;
	}
	UT_EQ_INT(bad, 0);
}

int
main(void)
{
	UT_TEST(test_vectors);
	UT_TEST(test_sizes);
	UT_TEST(test_strict);
	UT_TEST(test_roundtrip);
	return (ut_summary());
}
