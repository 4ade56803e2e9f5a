/*
 * akey_test.c: API keys and opaque tokens (akey.c): the KEY-06 format,
 * the checksum catching every single-character change, the parser
 * refusing every near miss, and the hashes the database stores.
 */

#include <regex.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/sha.h>

#include "auth.h"
#include "ut.h"

#define NKEYS		2000

static const char	key_re[] =
    "^crm_(live|test)_[A-Za-z0-9]{8}_[A-Za-z0-9]{43}[A-Za-z0-9]{6}$";
static const char	b62[] =
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

static int
parses(const char *key)
{
	char		id[AKEY_ID_LEN + 1];
	uint8_t		hash[AKEY_HASH_LEN];

	return (akey_parse(key, id, hash) == 0);
}

static void
test_crc32(void)
{
	/* The check value of CRC-32/ISO-HDLC, as zlib's crc32() gives. */
	UT_EQ_INT(akey_crc32("123456789", 9), 0xcbf43926U);
	UT_EQ_INT(akey_crc32("", 0), 0);
	UT_EQ_INT(akey_crc32("a", 1), 0xe8b7be43U);
}

/* The secret's 43 digits, read back, must fit in 256 bits. */
static int
secret_fits(const char *s)
{
	uint8_t		n[33] = { 0 };
	unsigned int	carry;
	int		i, j;

	for (i = 0; i < AKEY_SECRET_LEN; i++) {
		carry = (unsigned int)(strchr(b62, s[i]) - b62);
		for (j = 32; j >= 0; j--) {
			carry += n[j] * 62U;
			n[j] = (uint8_t)carry;
			carry >>= 8;
		}
	}
	return (n[0] == 0);
}

static int
cmp(const void *a, const void *b)
{
	return (strcmp(a, b));
}

static void
test_format(void)
{
	static char	keys[NKEYS][AKEY_LEN + 1];
	char		id[AKEY_ID_LEN + 1], id2[AKEY_ID_LEN + 1];
	uint8_t		hash[AKEY_HASH_LEN], hash2[AKEY_HASH_LEN];
	uint8_t		want[AKEY_HASH_LEN];
	regex_t		re;
	int		i, bad_re = 0, bad = 0, fits = 0;

	UT_EQ_INT(regcomp(&re, key_re, REG_EXTENDED | REG_NOSUB), 0);
	for (i = 0; i < NKEYS; i++) {
		akey_new(keys[i], id, hash);
		bad_re += regexec(&re, keys[i], 0, NULL, 0) != 0;
		SHA256((const unsigned char *)keys[i], AKEY_LEN, want);
		if (strlen(keys[i]) != AKEY_LEN ||
		    memcmp(id, keys[i] + AKEY_PREFIX_LEN, AKEY_ID_LEN) != 0 ||
		    memcmp(hash, want, sizeof(want)) != 0 ||
		    akey_parse(keys[i], id2, hash2) != 0 ||
		    strcmp(id, id2) != 0 || !akey_hash_eq(hash, hash2))
			bad++;
		fits += secret_fits(keys[i] + AKEY_PREFIX_LEN + AKEY_ID_LEN + 1);
	}
	regfree(&re);
	UT_EQ_INT(bad_re, 0);
	UT_EQ_INT(bad, 0);
	UT_EQ_INT(fits, NKEYS);
	UT_EQ_INT(strlen(keys[0]), 67);
	UT_CHECK(strncmp(keys[0], "crm_live_", 9) == 0);

	qsort(keys, NKEYS, sizeof(keys[0]), cmp);
	for (i = 1, bad = 0; i < NKEYS; i++)
		bad += strcmp(keys[i - 1], keys[i]) == 0;
	UT_EQ_INT(bad, 0);
}

/* Public ids are uniform over base62: each character about 1/62. */
static void
test_id_uniform(void)
{
	char		key[AKEY_LEN + 1], id[AKEY_ID_LEN + 1];
	uint8_t		hash[AKEY_HASH_LEN];
	int		count[62] = { 0 }, i, j, lo = 1 << 30, hi = 0;

	for (i = 0; i < NKEYS; i++) {
		akey_new(key, id, hash);
		for (j = 0; j < AKEY_ID_LEN; j++)
			count[strchr(b62, id[j]) - b62]++;
	}
	for (i = 0; i < 62; i++) {
		lo = count[i] < lo ? count[i] : lo;
		hi = count[i] > hi ? count[i] : hi;
	}
	/* 16000 draws: 258 expected per character, sd about 16. */
	UT_CHECK(lo > 170);
	UT_CHECK(hi < 350);
}

/* Every single-character substitution anywhere is refused. */
static void
test_single_change(void)
{
	static const char	extra[] = "_-+/= .\x7f\xc3";
	char			key[AKEY_LEN + 1], mut[AKEY_LEN + 1];
	char			id[AKEY_ID_LEN + 1], alpha[80];
	uint8_t			hash[AKEY_HASH_LEN];
	size_t			pos, c;
	int			tried = 0, accepted = 0;

	(void)snprintf(alpha, sizeof(alpha), "%s%s", b62, extra);
	akey_new(key, id, hash);
	UT_CHECK(parses(key));
	for (pos = 0; pos < AKEY_LEN; pos++) {
		for (c = 0; alpha[c] != '\0'; c++) {
			if (alpha[c] == key[pos])
				continue;
			memcpy(mut, key, sizeof(mut));
			mut[pos] = alpha[c];
			tried++;
			accepted += parses(mut);
		}
	}
	UT_CHECK(tried > 67 * 62);
	UT_EQ_INT(accepted, 0);
}

static void
test_variants(void)
{
	char		key[AKEY_LEN + 1], id[AKEY_ID_LEN + 1];
	char		v[AKEY_LEN + 16];
	uint8_t		hash[AKEY_HASH_LEN];
	uint32_t	crc;
	uint64_t	big;
	int		i;

	akey_new(key, id, hash);
	UT_CHECK(!parses(""));
	UT_CHECK(!parses("crm_live_"));
	(void)snprintf(v, sizeof(v), "%s\n", key);
	UT_CHECK(!parses(v));
	(void)snprintf(v, sizeof(v), "%sA", key);
	UT_CHECK(!parses(v));
	(void)snprintf(v, sizeof(v), " %s", key);
	UT_CHECK(!parses(v));
	(void)snprintf(v, sizeof(v), "%.*s", AKEY_LEN - 1, key);
	UT_CHECK(!parses(v));
	(void)snprintf(v, sizeof(v), "crm_test_%s", key + 9);
	UT_CHECK(!parses(v));		/* we issue live keys only */
	(void)snprintf(v, sizeof(v), "CRM_LIVE_%s", key + 9);
	UT_CHECK(!parses(v));

	/* The same CRC plus 2^32 still fits 6 digits and must not match. */
	crc = akey_crc32(key, AKEY_LEN - AKEY_CRC_LEN);
	big = (uint64_t)crc + ((uint64_t)1 << 32);
	memcpy(v, key, sizeof(key));
	for (i = AKEY_LEN - 1; i >= AKEY_LEN - AKEY_CRC_LEN; i--) {
		v[i] = b62[big % 62];
		big /= 62;
	}
	UT_CHECK(!parses(v));
	memcpy(v + AKEY_LEN - AKEY_CRC_LEN, "zzzzzz", 6);
	UT_CHECK(!parses(v));
	UT_CHECK(parses(key));
}

static void
test_hash_eq(void)
{
	uint8_t		a[AKEY_HASH_LEN], b[AKEY_HASH_LEN];

	memset(a, 0x5a, sizeof(a));
	memcpy(b, a, sizeof(b));
	UT_CHECK(akey_hash_eq(a, b));
	b[31] ^= 1;
	UT_CHECK(!akey_hash_eq(a, b));
	b[31] ^= 1;
	b[0] ^= 0x80;
	UT_CHECK(!akey_hash_eq(a, b));
}

static void
test_is_key(void)
{
	char		key[AKEY_LEN + 1], id[AKEY_ID_LEN + 1];
	uint8_t		hash[AKEY_HASH_LEN];

	akey_new(key, id, hash);
	UT_CHECK(akey_is_key(key));
	UT_CHECK(akey_is_key("crm_test_x"));
	UT_CHECK(!akey_is_key("eyJhbGciOiJFUzI1NiJ9.e30.sig"));
	UT_CHECK(!akey_is_key(""));
	UT_CHECK(!akey_is_key("crm"));
	UT_CHECK(!akey_is_key("CRM_live_"));
}

static void
test_token(void)
{
	char		t[AKEY_TOKEN_LEN + 1], u[AKEY_TOKEN_LEN + 1];
	char		v[AKEY_TOKEN_LEN + 8];
	uint8_t		h[AKEY_HASH_LEN], h2[AKEY_HASH_LEN];
	uint8_t		want[AKEY_HASH_LEN];
	size_t		i;
	int		bad = 0;

	akey_token(t, h);
	UT_EQ_INT(strlen(t), AKEY_TOKEN_LEN);
	for (i = 0; i < AKEY_TOKEN_LEN; i++)
		bad += strchr(b62, t[i]) == NULL && t[i] != '-' && t[i] != '_';
	UT_EQ_INT(bad, 0);
	SHA256((const unsigned char *)t, AKEY_TOKEN_LEN, want);
	UT_CHECK(memcmp(h, want, sizeof(h)) == 0);
	UT_EQ_INT(akey_token_hash(t, h2), 0);
	UT_CHECK(akey_hash_eq(h, h2));
	akey_token(u, h2);
	UT_CHECK(strcmp(t, u) != 0);
	UT_CHECK(!akey_hash_eq(h, h2));

	(void)snprintf(v, sizeof(v), "%s=", t);
	UT_EQ_INT(akey_token_hash(v, h2), -1);
	(void)snprintf(v, sizeof(v), "%.42s", t);
	UT_EQ_INT(akey_token_hash(v, h2), -1);
	(void)snprintf(v, sizeof(v), "%.42s+", t);
	UT_EQ_INT(akey_token_hash(v, h2), -1);
	/* 43 characters carry 258 bits: the last 2 must be zero. */
	(void)snprintf(v, sizeof(v), "%.42sB", t);
	UT_EQ_INT(akey_token_hash(v, h2), -1);
	UT_EQ_INT(akey_token_hash("", h2), -1);
}

int
main(void)
{
	UT_TEST(test_crc32);
	UT_TEST(test_format);
	UT_TEST(test_id_uniform);
	UT_TEST(test_single_change);
	UT_TEST(test_variants);
	UT_TEST(test_hash_eq);
	UT_TEST(test_is_key);
	UT_TEST(test_token);
	return (ut_summary());
}
