/*
 * jobseal_test.c: webhook secrets (format, sealing, tamper detection, the
 * key file) and the signature against an independent HMAC-SHA256 vector.
 */

#include <sys/stat.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "job.h"
#include "ut.h"

static void
test_secret_and_seal(void)
{
	char		 s1[JSEAL_SECRET_LEN + 1], s2[JSEAL_SECRET_LEN + 1];
	char		 out[JSEAL_SECRET_LEN + 1];
	uint8_t		 key[JSEAL_KEY_LEN], other[JSEAL_KEY_LEN];
	uint8_t		 sealed[JSEAL_SECRET_LEN + JSEAL_OVERHEAD];
	size_t		 n;

	jseal_secret_new(s1);
	jseal_secret_new(s2);
	UT_EQ_INT(strlen(s1), JSEAL_SECRET_LEN);
	UT_CHECK(strncmp(s1, "whsec_", 6) == 0);
	UT_CHECK(strcmp(s1, s2) != 0);
	UT_EQ_INT(strspn(s1 + 6, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnop"
	    "qrstuvwxyz0123456789-_"), JSEAL_SECRET_LEN - 6);
	memset(key, 7, sizeof(key));
	memset(other, 8, sizeof(other));
	UT_EQ_INT(jseal_seal(key, s1, sealed, &n), 0);
	UT_EQ_INT(n, JSEAL_SECRET_LEN + JSEAL_OVERHEAD);
	UT_CHECK(memmem(sealed, n, s1 + 6, 10) == NULL);
	UT_EQ_INT(jseal_open(key, sealed, n, out, sizeof(out)), 0);
	UT_EQ_STR(out, s1);
	UT_EQ_INT(jseal_open(other, sealed, n, out, sizeof(out)), -1);
	sealed[20] ^= 1;
	UT_EQ_INT(jseal_open(key, sealed, n, out, sizeof(out)), -1);
	sealed[20] ^= 1;
	UT_EQ_INT(jseal_open(key, sealed, n - 1, out, sizeof(out)), -1);
	UT_EQ_INT(jseal_open(key, sealed, 10, out, sizeof(out)), -1);
	UT_EQ_INT(jseal_open(key, sealed, n, out, 10), -1);
}

static void
test_key_file(void)
{
	char		 dir[] = "/tmp/jseal_test.XXXXXX", path[128];
	uint8_t		 k1[JSEAL_KEY_LEN], k2[JSEAL_KEY_LEN];
	struct stat	 st;
	FILE		*f;

	UT_CHECK(mkdtemp(dir) != NULL);
	UT_EQ_INT(jseal_key_load(dir, k1, 0), -1);
	UT_EQ_INT(jseal_key_load(dir, k1, 1), 0);
	UT_EQ_INT(jseal_key_load(dir, k2, 0), 0);
	UT_CHECK(memcmp(k1, k2, sizeof(k1)) == 0);
	(void)snprintf(path, sizeof(path), "%s/webhook-secret.key", dir);
	UT_EQ_INT(stat(path, &st), 0);
	UT_EQ_INT(st.st_mode & 0777, 0600);
	/* A damaged file is refused, never replaced. */
	f = fopen(path, "w");
	UT_CHECK(f != NULL);
	fputs("nothex\n", f);
	fclose(f);
	UT_EQ_INT(jseal_key_load(dir, k2, 1), -1);
	unlink(path);
	rmdir(dir);
	UT_EQ_INT(jseal_key_load("/nonexistent/dir", k2, 1), -1);
}

static void
test_sign(void)
{
	char	hex[65];

	/* printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac whsec_test */
	jseal_sign("whsec_test", "1700000000", "{\"a\":1}", 7, hex);
	UT_EQ_STR(hex,
	    "38877139021993b830af32feea6e18a8da83eb2f6e49ee50bd9e4cf4ca4d3789");
	/* An empty body still signs "<timestamp>." (the dot is always
	 * there); vector from openssl dgst -sha256 -hmac Jefe. */
	jseal_sign("Jefe", "what do ya want for nothing?", "", 0, hex);
	UT_EQ_STR(hex, "38c6c848e5a2f57451f5095df6370d5c9b83175b99df46422b34960c28def6ae");
}

int
main(void)
{
	UT_TEST(test_secret_and_seal);
	UT_TEST(test_key_file);
	UT_TEST(test_sign);
	return (ut_summary());
}
