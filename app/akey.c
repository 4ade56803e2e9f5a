/*
 * akey.c: API keys and opaque random tokens: making them, recognising
 * them, and the hashes the database stores instead of them.
 *
 * An API key (SECURITY.md KEY-06, section 3.4) is
 *
 *	crm_live_<id: 8 base62>_<secret: 43 base62><checksum: 6 base62>
 *
 * The id is public (the database's lookup key, shown in listings).  The
 * secret is 256 bits from the CSPRNG; 62^43 > 2^256, so every secret has
 * exactly 43 digits, zero-padded.  The checksum is CRC-32 (the zlib
 * polynomial) of everything before it, so secret scanners (GitHub's token
 * design) and our own parser can tell a real key from a typo or a random
 * string without the database.  The checksum is not a secret and not a
 * MAC: the database holds SHA-256 of the whole key, and a 256-bit secret
 * needs no slow hash.
 *
 * Refresh and invitation tokens are 256 random bits in base64url; the
 * database holds SHA-256 of the 43-character text.
 *
 * Left to others: storage, scopes, revocation, last-use tracking (the
 * keys module).
 */

#include <sys/types.h>

#include <string.h>

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "auth.h"

#define AKEY_CRC_AT		(AKEY_LEN - AKEY_CRC_LEN)

static const char	akey_b62[] =
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

static void
akey_random(void *p, size_t len)
{
	if (crm_random(p, len) == -1)
		crm_fatal("akey: no randomness from OpenSSL");
}

static uint32_t	akey_crc_table[256];

/*
 * The zlib CRC-32 table (reflected polynomial 0xedb88320), built before
 * main() so that task threads never race to build it.
 */
static void __attribute__((constructor))
akey_crc_init(void)
{
	uint32_t	c;
	size_t		i;
	int		k;

	for (i = 0; i < 256; i++) {
		c = (uint32_t)i;
		for (k = 0; k < 8; k++)
			c = (c & 1) ? 0xedb88320U ^ (c >> 1) : c >> 1;
		akey_crc_table[i] = c;
	}
}

uint32_t
akey_crc32(const void *data, size_t len)
{
	const uint8_t	*p = data;
	uint32_t	 c;
	size_t		 i;

	c = 0xffffffffU;
	for (i = 0; i < len; i++)
		c = akey_crc_table[(c ^ p[i]) & 0xff] ^ (c >> 8);
	return (c ^ 0xffffffffU);
}

static int
akey_b62_val(char c)
{
	const char	*p;

	if (c == '\0' || (p = strchr(akey_b62, c)) == NULL)
		return (-1);
	return ((int)(p - akey_b62));
}

/* Fixed-width base62 of a 32-bit value, most significant digit first. */
static void
akey_b62_u32(uint32_t v, char *out, size_t width)
{
	while (width-- > 0) {
		out[width] = akey_b62[v % 62];
		v /= 62;
	}
}

/*
 * Base62 of a 256-bit big-endian number in exactly AKEY_SECRET_LEN
 * digits: long division by 62, one digit per pass.
 */
static void
akey_b62_256(const uint8_t in[32], char out[AKEY_SECRET_LEN])
{
	uint8_t		n[32];
	uint32_t	rem;
	size_t		i, d;

	memcpy(n, in, sizeof(n));
	for (d = AKEY_SECRET_LEN; d-- > 0;) {
		rem = 0;
		for (i = 0; i < sizeof(n); i++) {
			rem = rem << 8 | n[i];
			n[i] = (uint8_t)(rem / 62);
			rem %= 62;
		}
		out[d] = akey_b62[rem];
	}
	explicit_bzero(n, sizeof(n));
}

/* Uniform base62 characters: bytes >= 248 (4 x 62) are drawn again. */
static void
akey_b62_random(char *out, size_t len)
{
	uint8_t		r[64];
	size_t		i, n = 0;

	while (n < len) {
		akey_random(r, sizeof(r));
		for (i = 0; i < sizeof(r) && n < len; i++) {
			if (r[i] < 248)
				out[n++] = akey_b62[r[i] % 62];
		}
	}
	explicit_bzero(r, sizeof(r));
}

static void
akey_sha256(const char *s, size_t len, uint8_t hash[AKEY_HASH_LEN])
{
	(void)SHA256((const unsigned char *)s, len, hash);
}

void
akey_new(char out[AKEY_LEN + 1], char id[AKEY_ID_LEN + 1],
    uint8_t hash[AKEY_HASH_LEN])
{
	uint8_t		secret[32];
	char		*p = out;

	memcpy(p, AKEY_PREFIX, AKEY_PREFIX_LEN);
	p += AKEY_PREFIX_LEN;
	akey_b62_random(p, AKEY_ID_LEN);
	memcpy(id, p, AKEY_ID_LEN);
	id[AKEY_ID_LEN] = '\0';
	p += AKEY_ID_LEN;
	*p++ = '_';
	akey_random(secret, sizeof(secret));
	akey_b62_256(secret, p);
	explicit_bzero(secret, sizeof(secret));
	akey_b62_u32(akey_crc32(out, AKEY_CRC_AT), out + AKEY_CRC_AT,
	    AKEY_CRC_LEN);
	out[AKEY_LEN] = '\0';
	akey_sha256(out, AKEY_LEN, hash);
}

/* The checksum's six digits, or -1 if they are not base62. */
static int64_t
akey_crc_read(const char *s)
{
	int64_t		v = 0;
	int		i, d;

	for (i = 0; i < AKEY_CRC_LEN; i++) {
		if ((d = akey_b62_val(s[i])) == -1)
			return (-1);
		v = v * 62 + d;
	}
	return (v);
}

static int
akey_b62_run(const char *s, size_t len)
{
	size_t		i;

	for (i = 0; i < len; i++) {
		if (akey_b62_val(s[i]) == -1)
			return (0);
	}
	return (1);
}

/*
 * 0 when key has the exact shape and a good checksum; then id is its
 * public id and hash SHA-256 of the whole key.  Anything else, a byte
 * more or less included, is -1.
 */
int
akey_parse(const char *key, char id[AKEY_ID_LEN + 1],
    uint8_t hash[AKEY_HASH_LEN])
{
	const char	*p = key + AKEY_PREFIX_LEN;

	if (strnlen(key, AKEY_LEN + 1) != AKEY_LEN ||
	    memcmp(key, AKEY_PREFIX, AKEY_PREFIX_LEN) != 0 ||
	    !akey_b62_run(p, AKEY_ID_LEN) || p[AKEY_ID_LEN] != '_' ||
	    !akey_b62_run(p + AKEY_ID_LEN + 1, AKEY_SECRET_LEN) ||
	    akey_crc_read(key + AKEY_CRC_AT) !=
	    (int64_t)akey_crc32(key, AKEY_CRC_AT))
		return (-1);
	memcpy(id, p, AKEY_ID_LEN);
	id[AKEY_ID_LEN] = '\0';
	akey_sha256(key, AKEY_LEN, hash);
	return (0);
}

int
akey_hash_eq(const uint8_t a[AKEY_HASH_LEN], const uint8_t b[AKEY_HASH_LEN])
{
	return (CRYPTO_memcmp(a, b, AKEY_HASH_LEN) == 0);
}

/* API keys start "crm_"; a JWT starts with base64url of '{', "ey". */
int
akey_is_key(const char *token)
{
	return (strncmp(token, "crm_", 4) == 0);
}

void
akey_token(char out[AKEY_TOKEN_LEN + 1], uint8_t hash[AKEY_HASH_LEN])
{
	uint8_t		raw[32];

	akey_random(raw, sizeof(raw));
	(void)b64url_encode(raw, sizeof(raw), out, AKEY_TOKEN_LEN + 1);
	explicit_bzero(raw, sizeof(raw));
	akey_sha256(out, AKEY_TOKEN_LEN, hash);
}

/* 0 and the hash when token is 43 canonical base64url characters. */
int
akey_token_hash(const char *token, uint8_t hash[AKEY_HASH_LEN])
{
	uint8_t		raw[32];
	ssize_t		n;

	if (strnlen(token, AKEY_TOKEN_LEN + 1) != AKEY_TOKEN_LEN)
		return (-1);
	n = b64url_decode(token, AKEY_TOKEN_LEN, raw, sizeof(raw));
	explicit_bzero(raw, sizeof(raw));
	if (n != (ssize_t)sizeof(raw))
		return (-1);
	akey_sha256(token, AKEY_TOKEN_LEN, hash);
	return (0);
}
