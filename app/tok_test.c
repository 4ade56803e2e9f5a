/*
 * tok_test.c: access tokens (tok.c) against every hostile case of
 * SECURITY.md AUTH-01..AUTH-06 and AUTH-10, the verified-token cache, and
 * interoperability with PyJWT.
 *
 * Hostile tokens are built here with OpenSSL (HMAC, EVP_DigestSign) and
 * our own base64url, never with libjwt, so libjwt's own refusals cannot
 * hide a missing check of ours: each token must fail with the reason we
 * expect, and the valid token built the same way must pass.  Time is the
 * `now` argument (T0), never the clock, except for the PyJWT round trip.
 * Prints what libjwt 1.10.2 alone accepts, and per-operation timings.
 * Run from the repository root (make unit): it runs
 * tests/unit/fixtures/pyjwt_tok.py with /usr/bin/python3.
 */

#include <sys/wait.h>

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jwt.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#else
#define RUNNING_ON_VALGRIND	0
#endif

#include "auth.h"
#include "ut.h"

#define T0		((int64_t)1700000000)
#define ISS		"crm"
#define AUD		"crm-api"
#define SUB		"0190a1b2-c3d4-7e5f-8a6b-7c8d9e0f1a2b"
#define TID		"0190a1b2-c3d4-7e5f-8a6b-000000000001"
#define SID		"0190a1b2-c3d4-7e5f-8a6b-000000000002"
#define JTI		"0190a1b2-c3d4-7e5f-8a6b-000000000003"
#define PY		"/usr/bin/python3"
#define PYJWT		"tests/unit/fixtures/pyjwt_tok.py"
#define HDR		"{\"alg\":\"ES256\",\"typ\":\"JWT\",\"kid\":\"$KID\"}"

enum sig {
	S_ES256,	/* our key, raw r || s */
	S_FOREIGN,	/* another P-256 key */
	S_DER,		/* our key, DER-encoded signature */
	S_ZERO,		/* 64 zero bytes */
	S_NONE,		/* empty signature */
	S_HS256,	/* HMAC with a random secret */
	S_HS384,
	S_HS512,
	S_HS256_PUB,	/* HMAC keyed with our public key PEM */
	S_HS256_EMPTY,	/* HMAC with an empty key */
	S_RS256,	/* an RSA key */
};

static char		 root[] = "/tmp/crm-tok-XXXXXX";
static struct kr_ring	 ring;		/* key A, active since T0 - 10 */
static const char	*kid;
static EVP_PKEY		*ours, *foreign, *rsa;

/* Token building, without libjwt. */

static void
b64(struct buf *b, const void *p, size_t len)
{
	static char	out[16384];

	out[0] = '\0';
	(void)b64url_encode(p, len, out, sizeof(out));
	buf_appends(b, out);
}

/* DER signature of data with pk (SHA-256), into out. */
static size_t
ds_sign(EVP_PKEY *pk, const void *data, size_t len, uint8_t *out,
    size_t outlen)
{
	EVP_MD_CTX	*ctx;
	size_t		 n = outlen;

	if ((ctx = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, pk) != 1 ||
	    EVP_DigestSign(ctx, out, &n, data, len) != 1)
		crm_fatal("EVP_DigestSign");
	EVP_MD_CTX_free(ctx);
	return (n);
}

/* ES256 as JWS wants it: r and s, 32 bytes each (RFC 7518 3.4). */
static size_t
es256(EVP_PKEY *pk, const void *data, size_t len, uint8_t out[64])
{
	uint8_t			 der[80];
	const uint8_t		*p = der;
	const BIGNUM		*r, *s;
	ECDSA_SIG		*sig;
	size_t			 n;

	n = ds_sign(pk, data, len, der, sizeof(der));
	if ((sig = d2i_ECDSA_SIG(NULL, &p, (long)n)) == NULL)
		crm_fatal("d2i_ECDSA_SIG");
	ECDSA_SIG_get0(sig, &r, &s);
	BN_bn2binpad(r, out, 32);
	BN_bn2binpad(s, out + 32, 32);
	ECDSA_SIG_free(sig);
	return (64);
}

static size_t
hmac(const EVP_MD *md, const void *key, size_t keylen, const void *data,
    size_t len, uint8_t *out)
{
	unsigned int	n = 0;

	if (HMAC(md, key, (int)keylen, data, len, out, &n) == NULL)
		crm_fatal("HMAC");
	return (n);
}

static size_t
sign(enum sig how, const char *data, size_t len, uint8_t out[512])
{
	const struct kr_key	*k = &ring.keys[0];

	switch (how) {
	case S_ES256:
		return (es256(ours, data, len, out));
	case S_FOREIGN:
		return (es256(foreign, data, len, out));
	case S_DER:
		return (ds_sign(ours, data, len, out, 512));
	case S_ZERO:
		memset(out, 0, 64);
		return (64);
	case S_NONE:
		return (0);
	case S_HS256:
		return (hmac(EVP_sha256(), "not our secret", 14, data, len,
		    out));
	case S_HS384:
		return (hmac(EVP_sha384(), "not our secret", 14, data, len,
		    out));
	case S_HS512:
		return (hmac(EVP_sha512(), "not our secret", 14, data, len,
		    out));
	case S_HS256_PUB:
		return (hmac(EVP_sha256(), k->pub_pem, k->pub_len, data, len,
		    out));
	case S_HS256_EMPTY:
		return (hmac(EVP_sha256(), "", 0, data, len, out));
	case S_RS256:
		return (ds_sign(rsa, data, len, out, 512));
	}
	return (0);
}

static EVP_PKEY *
pem_key(const char *pem)
{
	BIO		*bio;
	EVP_PKEY	*pk;

	bio = BIO_new_mem_buf(pem, -1);
	pk = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	BIO_free(bio);
	return (pk);
}

/* hdr with "$KID" replaced by our kid. */
static void
subst_kid(struct buf *b, const char *hdr)
{
	const char	*p;

	buf_reset(b);
	while ((p = strstr(hdr, "$KID")) != NULL) {
		buf_append(b, hdr, (size_t)(p - hdr));
		buf_appends(b, kid);
		hdr = p + 4;
	}
	buf_appends(b, hdr);
}

/* header.payload.signature; free with xfree. */
static char *
mk(const char *hdr, const char *pay, enum sig how)
{
	struct buf	b = { 0 }, h = { 0 };
	uint8_t		sig[512];
	size_t		n;

	subst_kid(&h, hdr);
	b64(&b, h.data, h.len);
	buf_appendc(&b, '.');
	b64(&b, pay, strlen(pay));
	n = sign(how, b.data, b.len, sig);
	buf_appendc(&b, '.');
	b64(&b, sig, n);
	buf_free(&h);
	return (b.data);
}

/* The claims of a valid token at T0, changed by set and del. */
static char *
claims(const char *set, const char *del)
{
	json_t		*c, *s;
	char		*text, *names, *name, *save;

	c = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:s, s:I, s:I, s:I, "
	    "s:s, s:s, s:s}", "iss", ISS, "aud", AUD, "sub", SUB, "tid", TID,
	    "sid", SID, "sv", (json_int_t)7, "jti", JTI, "iat",
	    (json_int_t)T0, "nbf", (json_int_t)T0, "exp",
	    (json_int_t)(T0 + 900), "tt", "access", "role", "sales_rep",
	    "kind", "user");
	if (set != NULL) {
		if ((s = json_loads(set, JSON_DECODE_ANY, NULL)) == NULL)
			crm_fatal("bad test JSON: %s", set);
		json_object_update(c, s);
		json_decref(s);
	}
	if (del != NULL) {
		names = xstrdup(del);
		for (name = strtok_r(names, ",", &save); name != NULL;
		    name = strtok_r(NULL, ",", &save))
			json_object_del(c, name);
		xfree(names);
	}
	text = js_dump(c, NULL);
	json_decref(c);
	return (text);
}

static int
verify_at(const char *token, int64_t now, struct tok_claims *out)
{
	return (tok_verify(&ring, token, now, ISS, AUD, out));
}

static void
expect(const char *name, const char *token, int want)
{
	struct tok_claims	c;
	int			got;

	got = verify_at(token, T0, &c);
	if (!ut_check(got == want, __FILE__, __LINE__, name))
		fprintf(stderr, "     got %s, want %s\n", tok_strerr(got),
		    tok_strerr(want));
}

/* AUTH-01..03 and the header half of AUTH-06: the header decides. */
static const struct {
	const char	*name;
	const char	*hdr;
	enum sig	 how;
	int		 want;
} hdr_cases[] = {
	{ "valid", HDR, S_ES256, TOK_OK },
	{ "valid without typ", "{\"alg\":\"ES256\",\"kid\":\"$KID\"}",
	    S_ES256, TOK_OK },
	{ "valid, members reordered",
	    "{\"kid\":\"$KID\",\"typ\":\"JWT\",\"alg\":\"ES256\"}", S_ES256,
	    TOK_OK },
	{ "alg none, no signature", "{\"alg\":\"none\",\"typ\":\"JWT\"}",
	    S_NONE, TOK_E_FORMAT },
	{ "alg none with kid, no signature",
	    "{\"alg\":\"none\",\"kid\":\"$KID\"}", S_NONE, TOK_E_FORMAT },
	{ "alg none, ES256 signature", "{\"alg\":\"none\",\"kid\":\"$KID\"}",
	    S_ES256, TOK_E_ALG },
	{ "alg none, 64 zero bytes", "{\"alg\":\"none\",\"kid\":\"$KID\"}",
	    S_ZERO, TOK_E_ALG },
	{ "alg None", "{\"alg\":\"None\",\"kid\":\"$KID\"}", S_ES256,
	    TOK_E_ALG },
	{ "alg es256", "{\"alg\":\"es256\",\"kid\":\"$KID\"}", S_ES256,
	    TOK_E_ALG },
	{ "alg HS256", "{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"$KID\"}",
	    S_HS256, TOK_E_ALG },
	{ "alg HS384", "{\"alg\":\"HS384\",\"typ\":\"JWT\",\"kid\":\"$KID\"}",
	    S_HS384, TOK_E_ALG },
	{ "alg HS512", "{\"alg\":\"HS512\",\"typ\":\"JWT\",\"kid\":\"$KID\"}",
	    S_HS512, TOK_E_ALG },
	{ "alg RS256", "{\"alg\":\"RS256\",\"typ\":\"JWT\",\"kid\":\"$KID\"}",
	    S_RS256, TOK_E_ALG },
	{ "HS256 MACed with our public key PEM",
	    "{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"$KID\"}",
	    S_HS256_PUB, TOK_E_ALG },
	{ "HS256 MACed with an empty key, no kid",
	    "{\"alg\":\"HS256\",\"typ\":\"JWT\"}", S_HS256_EMPTY, TOK_E_ALG },
	{ "HS256 MACed with an empty key, unknown kid",
	    "{\"alg\":\"HS256\",\"kid\":\"nosuchkey\"}", S_HS256_EMPTY,
	    TOK_E_ALG },
	{ "alg ES384", "{\"alg\":\"ES384\",\"kid\":\"$KID\"}", S_ES256,
	    TOK_E_ALG },
	{ "alg ES512", "{\"alg\":\"ES512\",\"kid\":\"$KID\"}", S_ES256,
	    TOK_E_ALG },
	{ "alg PS256", "{\"alg\":\"PS256\",\"kid\":\"$KID\"}", S_ES256,
	    TOK_E_ALG },
	{ "alg EdDSA", "{\"alg\":\"EdDSA\",\"kid\":\"$KID\"}", S_ES256,
	    TOK_E_ALG },
	{ "alg missing", "{\"typ\":\"JWT\",\"kid\":\"$KID\"}", S_ES256,
	    TOK_E_ALG },
	{ "alg array", "{\"alg\":[\"ES256\"],\"kid\":\"$KID\"}", S_ES256,
	    TOK_E_ALG },
	{ "alg null", "{\"alg\":null,\"kid\":\"$KID\"}", S_ES256, TOK_E_ALG },
	{ "alg with a NUL", "{\"alg\":\"ES256\\u0000\",\"kid\":\"$KID\"}",
	    S_ES256, TOK_E_HEADER },
	{ "header empty object", "{}", S_ES256, TOK_E_ALG },
	{ "kid unknown", "{\"alg\":\"ES256\",\"kid\":\"AAAAAAAAAAAAAAAA\"}",
	    S_ES256, TOK_E_KID_UNKNOWN },
	{ "kid of 32 characters, unknown", "{\"alg\":\"ES256\",\"kid\":"
	    "\"0123456789abcdef0123456789abcdef\"}", S_ES256,
	    TOK_E_KID_UNKNOWN },
	{ "kid of 33 characters", "{\"alg\":\"ES256\",\"kid\":"
	    "\"0123456789abcdef0123456789abcdef0\"}", S_ES256, TOK_E_KID },
	{ "kid our kid and more", "{\"alg\":\"ES256\",\"kid\":"
	    "\"$KID$KID$KID\"}", S_ES256, TOK_E_KID },
	{ "kid ../../x", "{\"alg\":\"ES256\",\"kid\":\"../../x\"}", S_ES256,
	    TOK_E_KID },
	{ "kid SQL", "{\"alg\":\"ES256\",\"kid\":\"a' OR 1=1\"}", S_ES256,
	    TOK_E_KID },
	{ "kid /etc/passwd", "{\"alg\":\"ES256\",\"kid\":\"/etc/passwd\"}",
	    S_ES256, TOK_E_KID },
	{ "kid with a newline", "{\"alg\":\"ES256\",\"kid\":\"$KID\\n\"}",
	    S_ES256, TOK_E_KID },
	{ "kid empty", "{\"alg\":\"ES256\",\"kid\":\"\"}", S_ES256,
	    TOK_E_KID },
	{ "kid a number", "{\"alg\":\"ES256\",\"kid\":123}", S_ES256,
	    TOK_E_KID },
	{ "kid null", "{\"alg\":\"ES256\",\"kid\":null}", S_ES256,
	    TOK_E_KID },
	{ "kid missing", "{\"alg\":\"ES256\",\"typ\":\"JWT\"}", S_ES256,
	    TOK_E_KID },
	{ "typ at+jwt", "{\"alg\":\"ES256\",\"typ\":\"at+jwt\",\"kid\":"
	    "\"$KID\"}", S_ES256, TOK_E_TYP },
	{ "typ jwt", "{\"alg\":\"ES256\",\"typ\":\"jwt\",\"kid\":\"$KID\"}",
	    S_ES256, TOK_E_TYP },
	{ "typ a number", "{\"alg\":\"ES256\",\"typ\":1,\"kid\":\"$KID\"}",
	    S_ES256, TOK_E_TYP },
	{ "crit", "{\"alg\":\"ES256\",\"typ\":\"JWT\",\"kid\":\"$KID\","
	    "\"crit\":[\"exp\"]}", S_ES256, TOK_E_CRIT },
	{ "crit empty", "{\"alg\":\"ES256\",\"kid\":\"$KID\",\"crit\":[]}",
	    S_ES256, TOK_E_CRIT },
	{ "header jku", "{\"alg\":\"ES256\",\"kid\":\"$KID\",\"jku\":"
	    "\"https://evil.example/jwks\"}", S_ES256, TOK_E_HEADER_MEMBER },
	{ "header jwk", "{\"alg\":\"ES256\",\"kid\":\"$KID\",\"jwk\":"
	    "{\"kty\":\"EC\"}}", S_ES256, TOK_E_HEADER_MEMBER },
	{ "header x5u", "{\"alg\":\"ES256\",\"kid\":\"$KID\",\"x5u\":\"x\"}",
	    S_ES256, TOK_E_HEADER_MEMBER },
	{ "header b64 false", "{\"alg\":\"ES256\",\"kid\":\"$KID\","
	    "\"b64\":false}", S_ES256, TOK_E_HEADER_MEMBER },
	{ "header cty", "{\"alg\":\"ES256\",\"kid\":\"$KID\",\"cty\":\"JWT\"}",
	    S_ES256, TOK_E_HEADER_MEMBER },
	{ "header duplicate alg",
	    "{\"alg\":\"none\",\"alg\":\"ES256\",\"kid\":\"$KID\"}", S_ES256,
	    TOK_E_HEADER },
	{ "header duplicate kid",
	    "{\"alg\":\"ES256\",\"kid\":\"other\",\"kid\":\"$KID\"}", S_ES256,
	    TOK_E_HEADER },
	{ "header an array", "[\"ES256\"]", S_ES256, TOK_E_HEADER },
	{ "header a string", "\"ES256\"", S_ES256, TOK_E_HEADER },
	{ "header not JSON", "alg=ES256", S_ES256, TOK_E_HEADER },
	{ "header trailing data", HDR "x", S_ES256, TOK_E_HEADER },
	{ "header bad UTF-8",
	    "{\"alg\":\"ES256\",\"kid\":\"$KID\",\"x\":\"\xff\"}", S_ES256,
	    TOK_E_HEADER },
	{ "signature DER-encoded", HDR, S_DER, TOK_E_SIG_LENGTH },
	{ "signature by a foreign P-256 key with our kid", HDR, S_FOREIGN,
	    TOK_E_SIGNATURE },
	{ "signature all zero", HDR, S_ZERO, TOK_E_SIGNATURE },
	{ "HS256 signature under ES256", HDR, S_HS256, TOK_E_SIG_LENGTH },
};

static void
test_header_cases(void)
{
	char		*pay, *t;
	size_t		 i;

	pay = claims(NULL, NULL);
	for (i = 0; i < sizeof(hdr_cases) / sizeof(hdr_cases[0]); i++) {
		t = mk(hdr_cases[i].hdr, pay, hdr_cases[i].how);
		expect(hdr_cases[i].name, t, hdr_cases[i].want);
		xfree(t);
	}
	xfree(pay);
}

/* AUTH-04, AUTH-05 and claim shapes: signed by us, so only claims decide. */
static const struct {
	const char	*name;
	const char	*set;
	const char	*del;
	int		 want;
} claim_cases[] = {
	{ "valid", NULL, NULL, TOK_OK },
	{ "exp missing", NULL, "exp", TOK_E_EXP },
	{ "exp a string", "{\"exp\":\"1700000900\"}", NULL, TOK_E_EXP },
	{ "exp a float", "{\"exp\":1700000900.5}", NULL, TOK_E_EXP },
	{ "exp a float with no fraction", "{\"exp\":1700000900.0}", NULL,
	    TOK_E_EXP },
	{ "exp with an exponent", "{\"exp\":1.7000009e9}", NULL, TOK_E_EXP },
	{ "exp negative", "{\"exp\":-1}", NULL, TOK_E_EXP },
	{ "exp true", "{\"exp\":true}", NULL, TOK_E_EXP },
	{ "exp null", "{\"exp\":null}", NULL, TOK_E_EXP },
	{ "exp INT64_MAX", "{\"exp\":9223372036854775807}", NULL, TOK_E_EXP },
	{ "exp 61 s past", "{\"iat\":1699999039,\"nbf\":1699999039,"
	    "\"exp\":1699999939}", NULL, TOK_E_EXPIRED },
	{ "exp 60 s past", "{\"iat\":1699999040,\"nbf\":1699999040,"
	    "\"exp\":1699999940}", NULL, TOK_E_EXPIRED },
	{ "exp 59 s past (leeway)", "{\"iat\":1699999041,\"nbf\":1699999041,"
	    "\"exp\":1699999941}", NULL, TOK_OK },
	{ "exp a year past", "{\"iat\":1668464000,\"nbf\":1668464000,"
	    "\"exp\":1668464900}", NULL, TOK_E_EXPIRED },
	{ "nbf 61 s ahead", "{\"nbf\":1700000061}", NULL, TOK_E_NOT_YET },
	{ "nbf 60 s ahead (leeway)", "{\"nbf\":1700000060}", NULL, TOK_OK },
	{ "nbf missing", NULL, "nbf", TOK_E_NBF },
	{ "nbf a string", "{\"nbf\":\"1700000000\"}", NULL, TOK_E_NBF },
	{ "iat 61 s ahead", "{\"iat\":1700000061}", NULL, TOK_E_IAT_FUTURE },
	{ "iat 60 s ahead (leeway)", "{\"iat\":1700000060}", NULL, TOK_OK },
	{ "iat missing", NULL, "iat", TOK_E_IAT },
	{ "iat a float", "{\"iat\":1700000000.25}", NULL, TOK_E_IAT },
	{ "exp - iat = 901", "{\"exp\":1700000901}", NULL, TOK_E_LIFETIME },
	{ "exp - iat = a day", "{\"exp\":1700086400}", NULL, TOK_E_LIFETIME },
	{ "exp = iat", "{\"exp\":1700000000}", NULL, TOK_E_LIFETIME },
	{ "exp < iat", "{\"iat\":1700000030,\"exp\":1700000010}", NULL,
	    TOK_E_LIFETIME },
	{ "iss wrong", "{\"iss\":\"evil\"}", NULL, TOK_E_ISS },
	{ "iss missing", NULL, "iss", TOK_E_ISS },
	{ "iss upper case", "{\"iss\":\"CRM\"}", NULL, TOK_E_ISS },
	{ "iss with a suffix", "{\"iss\":\"crm \"}", NULL, TOK_E_ISS },
	{ "iss an array", "{\"iss\":[\"crm\"]}", NULL, TOK_E_ISS },
	{ "aud wrong", "{\"aud\":\"other-api\"}", NULL, TOK_E_AUD },
	{ "aud missing", NULL, "aud", TOK_E_AUD },
	{ "aud array without ours", "{\"aud\":[\"other\",\"crm-ap\"]}", NULL,
	    TOK_E_AUD },
	{ "aud array with ours", "{\"aud\":[\"other\",\"crm-api\"]}", NULL,
	    TOK_OK },
	{ "aud empty array", "{\"aud\":[]}", NULL, TOK_E_AUD },
	{ "aud array of non-strings", "{\"aud\":[1,null,{}]}", NULL,
	    TOK_E_AUD },
	{ "aud nested array", "{\"aud\":[[\"crm-api\"]]}", NULL, TOK_E_AUD },
	{ "aud an object", "{\"aud\":{\"crm-api\":true}}", NULL, TOK_E_AUD },
	{ "tt refresh", "{\"tt\":\"refresh\"}", NULL, TOK_E_TT },
	{ "tt missing", NULL, "tt", TOK_E_TT },
	{ "tt ACCESS", "{\"tt\":\"ACCESS\"}", NULL, TOK_E_TT },
	{ "sub not a UUID", "{\"sub\":\"42\"}", NULL, TOK_E_SUB },
	{ "sub a number", "{\"sub\":42}", NULL, TOK_E_SUB },
	{ "sub missing", NULL, "sub", TOK_E_SUB },
	{ "sub a UUID and more", "{\"sub\":\"" SUB "x\"}", NULL, TOK_E_SUB },
	{ "sub upper case", "{\"sub\":\"0190A1B2-C3D4-7E5F-8A6B-7C8D9E0F1A2B\"}",
	    NULL, TOK_OK },
	{ "tid missing", NULL, "tid", TOK_E_TID },
	{ "tid not a UUID", "{\"tid\":\"00000000-0000-0000-0000-00000000000\"}",
	    NULL, TOK_E_TID },
	{ "sid missing", NULL, "sid", TOK_E_SID },
	{ "sid a number", "{\"sid\":1}", NULL, TOK_E_SID },
	{ "sv missing", NULL, "sv", TOK_E_SV },
	{ "sv negative", "{\"sv\":-1}", NULL, TOK_E_SV },
	{ "sv a string", "{\"sv\":\"7\"}", NULL, TOK_E_SV },
	{ "sv a float", "{\"sv\":7.0}", NULL, TOK_E_SV },
	{ "jti missing", NULL, "jti", TOK_E_JTI },
	{ "jti not a UUID", "{\"jti\":\"abc\"}", NULL, TOK_E_JTI },
	{ "role missing", NULL, "role", TOK_E_ROLE },
	{ "role empty", "{\"role\":\"\"}", NULL, TOK_E_ROLE },
	{ "role with a space", "{\"role\":\"sales rep\"}", NULL, TOK_E_ROLE },
	{ "role a number", "{\"role\":1}", NULL, TOK_E_ROLE },
	{ "role of 64 characters", "{\"role\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}", NULL, TOK_E_ROLE },
	{ "kind absent", NULL, "kind", TOK_OK },
	{ "kind User", "{\"kind\":\"User\"}", NULL, TOK_E_KIND },
	{ "kind a number", "{\"kind\":1}", NULL, TOK_E_KIND },
	{ "an extra claim", "{\"foo\":{\"bar\":[1,2]}}", NULL, TOK_OK },
};

static void
test_claim_cases(void)
{
	char		*pay, *t;
	size_t		 i;

	for (i = 0; i < sizeof(claim_cases) / sizeof(claim_cases[0]); i++) {
		pay = claims(claim_cases[i].set, claim_cases[i].del);
		t = mk(HDR, pay, S_ES256);
		expect(claim_cases[i].name, t, claim_cases[i].want);
		xfree(t);
		xfree(pay);
	}
}

/* Payloads that are not one JSON object, signed by us all the same. */
static void
test_payload_cases(void)
{
	static const struct {
		const char	*name;
		const char	*tail;		/* replaces the final '}' */
		int		 want;
	} dups[] = {
		{ "payload duplicate iss", ",\"iss\":\"evil\"}", TOK_E_PAYLOAD },
		{ "payload duplicate exp", ",\"exp\":9999999999}",
		    TOK_E_PAYLOAD },
		{ "payload duplicate tid", ",\"tid\":\"" SID "\"}",
		    TOK_E_PAYLOAD },
		{ "payload trailing data", "}{}", TOK_E_PAYLOAD },
	};
	static const struct {
		const char	*name;
		const char	*pay;
		int		 want;
	} raw[] = {
		{ "payload an array", "[1,2]", TOK_E_PAYLOAD },
		{ "payload null", "null", TOK_E_PAYLOAD },
		{ "payload not JSON", "exp=1", TOK_E_PAYLOAD },
		{ "payload bad UTF-8", "{\"iss\":\"\xc3\x28\"}", TOK_E_PAYLOAD },
		{ "payload empty object", "{}", TOK_E_EXP },
		{ "payload with a NUL", "{\"iss\":\"crm\\u0000x\"}",
		    TOK_E_PAYLOAD },
	};
	char		*pay, *t;
	struct buf	 b = { 0 };
	size_t		 i;

	pay = claims(NULL, NULL);
	for (i = 0; i < sizeof(dups) / sizeof(dups[0]); i++) {
		buf_reset(&b);
		buf_append(&b, pay, strlen(pay) - 1);
		buf_appends(&b, dups[i].tail);
		t = mk(HDR, b.data, S_ES256);
		expect(dups[i].name, t, dups[i].want);
		xfree(t);
	}
	for (i = 0; i < sizeof(raw) / sizeof(raw[0]); i++) {
		t = mk(HDR, raw[i].pay, S_ES256);
		expect(raw[i].name, t, raw[i].want);
		xfree(t);
	}
	/* Deeper than JS_MAX_DEPTH: jansson (libjwt) would take it. */
	buf_reset(&b);
	buf_appends(&b, "{\"iss\":\"crm\",\"a\":");
	for (i = 0; i < JS_MAX_DEPTH + 8; i++)
		buf_appendc(&b, '[');
	for (i = 0; i < JS_MAX_DEPTH + 8; i++)
		buf_appendc(&b, ']');
	buf_appendc(&b, '}');
	t = mk(HDR, b.data, S_ES256);
	expect("payload nested too deep", t, TOK_E_PAYLOAD);
	xfree(t);
	buf_free(&b);
	xfree(pay);
}

/* One bit of segment seg (0, 1, 2) flipped in its decoded bytes. */
static char *
flip(const char *token, int seg, size_t byte, int bit)
{
	struct buf	 b = { 0 };
	const char	*s[3], *dot;
	size_t		 len[3];
	uint8_t		 raw[4096];
	ssize_t		 n;
	int		 i;

	s[0] = token;
	for (i = 0; i < 3; i++) {
		dot = strchr(s[i], '.');
		len[i] = dot != NULL ? (size_t)(dot - s[i]) : strlen(s[i]);
		if (i < 2)
			s[i + 1] = s[i] + len[i] + 1;
	}
	for (i = 0; i < 3; i++) {
		if (i > 0)
			buf_appendc(&b, '.');
		if (i != seg) {
			buf_append(&b, s[i], len[i]);
			continue;
		}
		n = b64url_decode(s[i], len[i], raw, sizeof(raw));
		raw[byte % (size_t)n] ^= (uint8_t)(1 << bit);
		b64(&b, raw, (size_t)n);
	}
	return (b.data);
}

static char *
cat(const char *a, const char *b, const char *c)
{
	struct buf	x = { 0 };

	buf_appends(&x, a);
	buf_appends(&x, b);
	buf_appends(&x, c);
	return (x.data);
}

static void
expect_free(const char *name, char *token, int want)
{
	expect(name, token, want);
	xfree(token);
}

/*
 * A signed token of exactly len bytes, made long by an "x" header member
 * and a "pad" claim: base64url lengths skip some values, so both vary.
 */
static char *
sized(size_t len)
{
	struct buf	 h = { 0 };
	char		*pay, *t, set[64];
	size_t		 n1, n2;

	for (n2 = 0; n2 < 4; n2++) {
		(void)snprintf(set, sizeof(set), "{\"pad\":\"%.*s\"}", (int)n2,
		    "yyy");
		pay = claims(set, NULL);
		for (n1 = 2000; n1 < 3100; n1++) {
			buf_reset(&h);
			buf_appends(&h, "{\"alg\":\"ES256\",\"kid\":\"$KID\","
			    "\"x\":\"");
			while (h.len < n1)
				buf_appendc(&h, 'x');
			buf_appends(&h, "\"}");
			t = mk(h.data, pay, S_ES256);
			if (strlen(t) == len) {
				xfree(pay);
				buf_free(&h);
				return (t);
			}
			xfree(t);
		}
		xfree(pay);
	}
	crm_fatal("no token of %zu bytes", len);
}

/* v's header and signature around other claims. */
static void
tamper(const char *name, const char *v, const char *set)
{
	struct buf	 b = { 0 };
	char		*pay;

	pay = claims(set, NULL);
	buf_append(&b, v, (size_t)(strchr(v, '.') - v) + 1);
	b64(&b, pay, strlen(pay));
	buf_appends(&b, strrchr(v, '.'));
	expect(name, b.data, TOK_E_SIGNATURE);
	buf_free(&b);
	xfree(pay);
}

/* AUTH-06: changed bytes under a valid signature. */
static void
test_tamper_cases(void)
{
	struct tok_claims	 c;
	char			*pay, *v, *t, *p;
	size_t			 i;
	int			 got;

	pay = claims(NULL, NULL);
	v = mk(HDR, pay, S_ES256);
	expect("the valid token", v, TOK_OK);

	for (i = 0; i < 64; i += 9)
		expect_free("signature bit flip", flip(v, 2, i, (int)i % 8),
		    TOK_E_SIGNATURE);
	for (i = 0; i < 300; i += 37) {
		t = flip(v, 1, i, (int)i % 8);
		got = verify_at(t, T0, &c);
		UT_CHECK(got == TOK_E_SIGNATURE || got == TOK_E_PAYLOAD);
		xfree(t);
	}
	/* Tampering that keeps the JSON valid: only the signature says no. */
	tamper("role escalated", v, "{\"role\":\"tenant_admin\"}");
	tamper("tenant swapped", v, "{\"tid\":\"" SID "\"}");
	tamper("session version rolled back", v, "{\"sv\":6}");
	tamper("exp extended", v, "{\"exp\":1700000901}");
	p = mk("{\"kid\":\"$KID\",\"alg\":\"ES256\",\"typ\":\"JWT\"}", pay,
	    S_NONE);
	t = cat(p, strrchr(v, '.') + 1, "");
	expect_free("header re-ordered under the old signature", t,
	    TOK_E_SIGNATURE);
	xfree(p);
	xfree(v);
	xfree(pay);
}

/* AUTH-06 on the text of a valid token: every bad shape is refused. */
static void
test_encoding_cases(void)
{
	char		*pay, *v, *t;
	size_t		 len;

	pay = claims(NULL, NULL);
	v = mk(HDR, pay, S_ES256);
	len = strlen(v);

	t = xstrndup(v, len - 1);
	expect_free("truncated by 1", t, TOK_E_FORMAT);
	t = xstrndup(v, len - 2);
	expect_free("truncated by 2", t, TOK_E_SIG_LENGTH);
	t = xstrndup(v, (size_t)(strrchr(v, '.') - v) + 1);
	expect_free("truncated to header.payload.", t, TOK_E_FORMAT);
	t = xstrndup(v, (size_t)(strrchr(v, '.') - v));
	expect_free("2 segments", t, TOK_E_FORMAT);
	t = xstrndup(v, (size_t)(strchr(v, '.') - v));
	expect_free("1 segment", t, TOK_E_FORMAT);
	expect_free("4 segments", cat(v, ".e30", ""), TOK_E_FORMAT);
	expect_free("trailing dot", cat(v, ".", ""), TOK_E_FORMAT);
	expect_free("leading dot", cat(".", v, ""), TOK_E_FORMAT);
	expect_free("'=' padding", cat(v, "=", ""), TOK_E_FORMAT);
	expect_free("'==' padding", cat(v, "==", ""), TOK_E_FORMAT);
	t = xstrdup(v);
	t[strchr(v, '.') - v] = '=';
	expect_free("'=' for a dot", t, TOK_E_FORMAT);
	t = xstrdup(v);
	t[len - 5] = '+';
	expect_free("'+' in the signature", t, TOK_E_FORMAT);
	t = xstrdup(v);
	t[3] = '/';
	expect_free("'/' in the header", t, TOK_E_FORMAT);
	expect_free("leading space", cat(" ", v, ""), TOK_E_FORMAT);
	expect_free("trailing space", cat(v, " ", ""), TOK_E_FORMAT);
	expect_free("trailing newline", cat(v, "\n", ""), TOK_E_FORMAT);
	expect_free("trailing CRLF", cat(v, "\r\n", ""), TOK_E_FORMAT);
	expect_free("Bearer prefix", cat("Bearer ", v, ""), TOK_E_FORMAT);
	t = xstrdup(v);
	t[10] = '\t';
	expect_free("a tab inside", t, TOK_E_FORMAT);
	t = xstrdup(v);
	t[len - 1] = (char)0xc3;
	expect_free("a non-ASCII byte", t, TOK_E_FORMAT);
	/* Not canonical: the last character carries stray bits. */
	t = xstrdup(v);
	t[len - 1] = t[len - 1] == 'B' ? 'C' : 'B';
	expect_free("stray bits in the last character", t, TOK_E_FORMAT);
	expect("empty", "", TOK_E_LENGTH);

	/* Size: 4097 bytes is refused unread; 4096 is read (and refused). */
	t = sized(4096);
	UT_EQ_INT(strlen(t), 4096);
	expect_free("token of 4096 bytes", t, TOK_E_HEADER_MEMBER);
	t = sized(4097);
	UT_EQ_INT(strlen(t), 4097);
	expect_free("token of 4097 bytes", t, TOK_E_LENGTH);
	t = xmalloc(1 << 20);
	memset(t, 'A', (1 << 20) - 1);
	t[(1 << 20) - 1] = '\0';
	expect_free("a 1 MiB token", t, TOK_E_LENGTH);
	xfree(v);
	xfree(pay);
}

/* tok_sign(): what it writes, what it refuses. */
static void
base(struct tok_claims *c, int64_t iat)
{
	memset(c, 0, sizeof(*c));
	(void)snprintf(c->iss, sizeof(c->iss), "%s", ISS);
	(void)snprintf(c->aud, sizeof(c->aud), "%s", AUD);
	(void)snprintf(c->sub, sizeof(c->sub), "%s", SUB);
	(void)snprintf(c->tid, sizeof(c->tid), "%s", TID);
	(void)snprintf(c->sid, sizeof(c->sid), "%s", SID);
	(void)snprintf(c->role, sizeof(c->role), "%s", "tenant_admin");
	(void)snprintf(c->kind, sizeof(c->kind), "%s", "user");
	c->sv = 3;
	c->iat = iat;
}

static void
check_header(const char *token)
{
	uint8_t		 raw[256];
	ssize_t		 n;
	json_t		*h;

	n = b64url_decode(token, (size_t)(strchr(token, '.') - token), raw,
	    sizeof(raw));
	UT_CHECK(n > 0);
	h = js_parse(raw, n > 0 ? (size_t)n : 0, NULL);
	UT_EQ_INT(json_object_size(h), 3);
	UT_EQ_STR(js_get_str(h, "alg"), "ES256");
	UT_EQ_STR(js_get_str(h, "typ"), "JWT");
	UT_EQ_STR(js_get_str(h, "kid"), kid);
	json_decref(h);
	UT_EQ_INT(strlen(strrchr(token, '.') + 1), 86);
}

static void
test_sign(void)
{
	struct tok_claims	 c, out;
	char			*t;
	uint8_t			 u[UUID_LEN];

	base(&c, T0);
	UT_EQ_INT(tok_sign(&ring, &c, &t), 0);
	UT_CHECK(t != NULL);
	if (t == NULL)
		return;
	check_header(t);
	UT_EQ_INT(c.nbf, T0);
	UT_EQ_INT(c.exp, T0 + TOK_LIFETIME);
	UT_EQ_STR(c.kid, kid);
	UT_EQ_INT(uuid7_parse(c.jti, u), 0);
	UT_EQ_INT(u[6] >> 4, 7);
	UT_EQ_INT(verify_at(t, T0, &out), TOK_OK);
	UT_EQ_STR(out.sub, SUB);
	UT_EQ_STR(out.tid, TID);
	UT_EQ_STR(out.sid, SID);
	UT_EQ_STR(out.jti, c.jti);
	UT_EQ_STR(out.role, "tenant_admin");
	UT_EQ_STR(out.kind, "user");
	UT_EQ_STR(out.kid, kid);
	UT_EQ_INT(out.sv, 3);
	UT_EQ_INT(out.exp, T0 + 900);
	UT_CHECK(memcmp(&out, &c, sizeof(c)) == 0);
	/* Valid from nbf - leeway to exp + leeway, and not a second more. */
	UT_EQ_INT(verify_at(t, T0 - 60, &out), TOK_OK);
	UT_EQ_INT(verify_at(t, T0 - 61, &out), TOK_E_NOT_YET);
	UT_EQ_INT(verify_at(t, T0 + 959, &out), TOK_OK);
	UT_EQ_INT(verify_at(t, T0 + 960, &out), TOK_E_EXPIRED);
	UT_EQ_INT(tok_verify(&ring, t, T0, "other", AUD, &out), TOK_E_ISS);
	UT_EQ_INT(tok_verify(&ring, t, T0, ISS, "other", &out), TOK_E_AUD);
	UT_CHECK(out.sub[0] == '\0');	/* zeroed on failure */
	xfree(t);

	base(&c, T0);
	c.kind[0] = '\0';
	UT_EQ_INT(tok_sign(&ring, &c, &t), 0);
	UT_EQ_INT(verify_at(t, T0, &out), TOK_OK);
	UT_EQ_STR(out.kind, "");
	xfree(t);

	UT_EQ_STR(tok_strerr(TOK_E_KID_RETIRED), "kid_retired");
	UT_EQ_STR(tok_strerr(TOK_E_INTERNAL), "internal_error");
	UT_EQ_STR(tok_strerr(TOK_OK), "ok");
	UT_EQ_STR(tok_strerr(-99), "unknown");
	UT_EQ_STR(tok_strerr(5), "unknown");
}

/* Claims the verifier would refuse are not signed. */
static void
test_sign_refuses(void)
{
	struct tok_claims	 bad;
	char			*t;

	base(&bad, T0);
	(void)snprintf(bad.sub, sizeof(bad.sub), "42");
	UT_EQ_INT(tok_sign(&ring, &bad, &t), -1);
	UT_CHECK(t == NULL);
	base(&bad, T0);
	bad.role[0] = '\0';
	UT_EQ_INT(tok_sign(&ring, &bad, &t), -1);
	base(&bad, T0);
	(void)snprintf(bad.role, sizeof(bad.role), "a b");
	UT_EQ_INT(tok_sign(&ring, &bad, &t), -1);
	base(&bad, T0);
	(void)snprintf(bad.iss, sizeof(bad.iss), "crm\"x");
	UT_EQ_INT(tok_sign(&ring, &bad, &t), 0);	/* printable: fine */
	xfree(t);
	base(&bad, T0);
	(void)snprintf(bad.iss, sizeof(bad.iss), "c m");
	UT_EQ_INT(tok_sign(&ring, &bad, &t), -1);
	base(&bad, T0);
	bad.sv = -1;
	UT_EQ_INT(tok_sign(&ring, &bad, &t), -1);
	base(&bad, T0);
	(void)snprintf(bad.kind, sizeof(bad.kind), "User");
	UT_EQ_INT(tok_sign(&ring, &bad, &t), -1);
	base(&bad, -5);
	UT_EQ_INT(tok_sign(&ring, &bad, &t), -1);
	base(&bad, T0 - 3600);		/* no key was active then */
	UT_EQ_INT(tok_sign(&ring, &bad, &t), -1);
}

/* AUTH-10: A active from T0; B made at T0+100, active from T0+1000. */
static void
test_rotation(void)
{
	struct kr_ring		 r, late;
	struct tok_claims	 c, out;
	char			*ta, *ta2, *tb, *tx, ka[KR_KID_MAX + 1];
	char			 dir[600];

	(void)snprintf(dir, sizeof(dir), "%s/rot", root);
	UT_EQ_INT(kr_rotate_at(dir, T0, 0), 0);
	UT_EQ_INT(kr_rotate_at(dir, T0 + 100, 900), 0);
	UT_EQ_INT(kr_load_at(dir, T0 + 100, &r), 0);
	(void)snprintf(ka, sizeof(ka), "%s", r.keys[0].kid);

	base(&c, T0 + 999);
	UT_EQ_INT(tok_sign(&r, &c, &ta), 0);
	UT_EQ_STR(c.kid, ka);
	base(&c, T0 + 500);
	UT_EQ_INT(tok_sign(&r, &c, &ta2), 0);
	base(&c, T0 + 1000);
	UT_EQ_INT(tok_sign(&r, &c, &tb), 0);
	UT_EQ_STR(c.kid, r.keys[1].kid);

	/* B verifies before it signs: workers may disagree by a minute. */
	UT_EQ_INT(tok_verify(&r, tb, T0 + 999, ISS, AUD, &out), TOK_OK);
	UT_EQ_INT(tok_verify(&r, tb, T0 + 1500, ISS, AUD, &out), TOK_OK);
	/* A's tokens live through the overlap... */
	UT_EQ_INT(tok_verify(&r, ta2, T0 + 1000, ISS, AUD, &out), TOK_OK);
	UT_EQ_INT(tok_verify(&r, ta, T0 + 1500, ISS, AUD, &out), TOK_OK);
	UT_EQ_STR(out.kid, ka);
	UT_EQ_INT(tok_verify(&r, ta, T0 + 1958, ISS, AUD, &out), TOK_OK);
	UT_EQ_INT(tok_verify(&r, ta, T0 + 1959, ISS, AUD, &out),
	    TOK_E_EXPIRED);
	/* ...and A is refused once retired, whatever the token says. */
	UT_EQ_INT(tok_verify(&r, ta, T0 + 1961, ISS, AUD, &out),
	    TOK_E_KID_RETIRED);
	UT_EQ_INT(tok_verify(&r, tb, T0 + 1961, ISS, AUD, &out),
	    TOK_E_EXPIRED);

	/* A token from A claiming a later time is still refused. */
	UT_EQ_INT(kr_load_at(dir, T0 + 100, &late), 0);
	base(&c, T0 + 999);
	UT_EQ_INT(tok_sign(&late, &c, &tx), 0);
	kr_free(&late);
	UT_EQ_INT(kr_load_at(dir, T0 + 2000, &late), 0);
	UT_CHECK(late.keys[0].pub_pem == NULL);
	UT_EQ_INT(tok_verify(&late, tx, T0 + 2000, ISS, AUD, &out),
	    TOK_E_KID_RETIRED);
	xfree(tx);
	base(&c, T0 + 2000);
	UT_EQ_INT(tok_sign(&late, &c, &tx), 0);
	UT_EQ_STR(c.kid, late.keys[1].kid);
	kr_free(&late);

	xfree(ta);
	xfree(ta2);
	xfree(tb);
	xfree(tx);
	kr_free(&r);
}

/* The verified-token cache. */
static void
test_cache(void)
{
	struct tok_claims	 c, out, fake;
	struct kr_ring		 none, r;
	char			*t, *u, *pay, name[32], dir[600];
	int			 i, hits = 0, wrong = 0;

	tok_cache_flush();
	pay = claims(NULL, NULL);
	t = mk(HDR, pay, S_ES256);
	xfree(pay);
	UT_EQ_INT(verify_at(t, T0, &c), TOK_OK);
	UT_EQ_INT(tok_cache_get(&ring, t, T0, &out), -1);
	tok_cache_put(t, &c);
	memset(&out, 0, sizeof(out));
	UT_EQ_INT(tok_cache_get(&ring, t, T0, &out), 0);
	UT_CHECK(memcmp(&out, &c, sizeof(c)) == 0);
	UT_EQ_INT(tok_cache_get(&ring, t, T0 + 959, &out), 0);
	u = xstrdup(t);
	u[strlen(u) - 3] ^= 1;
	UT_EQ_INT(tok_cache_get(&ring, u, T0, &out), -1);
	xfree(u);

	/* Expiry at exp + leeway, and the entry is gone after. */
	UT_EQ_INT(tok_cache_get(&ring, t, T0 + 960, &out), -1);
	UT_EQ_INT(tok_cache_get(&ring, t, T0, &out), -1);

	/* A ring without the key (emergency removal): no hit. */
	tok_cache_put(t, &c);
	memset(&none, 0, sizeof(none));
	UT_EQ_INT(tok_cache_get(&none, t, T0, &out), -1);
	tok_cache_put(t, &c);
	tok_cache_flush();
	UT_EQ_INT(tok_cache_get(&ring, t, T0, &out), -1);

	/* A retired key: no hit even if the entry claims to live on. */
	(void)snprintf(dir, sizeof(dir), "%s/rot", root);
	UT_EQ_INT(kr_load_at(dir, T0 + 100, &r), 0);
	fake = c;
	(void)snprintf(fake.kid, sizeof(fake.kid), "%s", r.keys[0].kid);
	fake.exp = T0 + 5000;
	tok_cache_put(t, &fake);
	UT_EQ_INT(tok_cache_get(&r, t, T0 + 1960, &out), 0);
	UT_EQ_INT(tok_cache_get(&r, t, T0 + 1961, &out), -1);
	kr_free(&r);

	/* Three times more tokens than slots: misses, never a wrong hit. */
	for (i = 0; i < 3 * TOK_CACHE_SLOTS; i++) {
		(void)snprintf(name, sizeof(name), "token-%d", i);
		fake = c;
		fake.sv = i;
		tok_cache_put(name, &fake);
	}
	for (i = 0; i < 3 * TOK_CACHE_SLOTS; i++) {
		(void)snprintf(name, sizeof(name), "token-%d", i);
		if (tok_cache_get(&ring, name, T0, &out) == 0) {
			hits++;
			wrong += out.sv != i;
		}
	}
	printf("note: cache holds %d of %d tokens put\n", hits,
	    3 * TOK_CACHE_SLOTS);
	UT_EQ_INT(wrong, 0);
	UT_CHECK(hits > TOK_CACHE_SLOTS / 2 && hits <= TOK_CACHE_SLOTS);
	tok_cache_flush();
	xfree(t);
}

/* PyJWT: a second, independent ES256 implementation. */

/*
 * Runs pyjwt_tok.py with args, its stdout into out (and its stderr into
 * /dev/null if quiet).  Returns its exit status.
 */
static int
py(const char *const args[], char *out, size_t outlen, int quiet)
{
	char		*argv[8];
	int		 fd[2], status, i;
	size_t		 n = 0;
	ssize_t		 r;
	pid_t		 pid;

	argv[0] = PY;
	argv[1] = PYJWT;
	for (i = 0; args[i] != NULL && i < 5; i++)
		argv[i + 2] = (char *)(uintptr_t)args[i];
	argv[i + 2] = NULL;
	if (pipe(fd) == -1 || (pid = fork()) == -1)
		return (-1);
	if (pid == 0) {
		dup2(fd[1], 1);
		if (quiet)
			(void)freopen("/dev/null", "w", stderr);
		close(fd[0]);
		close(fd[1]);
		execv(PY, argv);
		_exit(127);
	}
	close(fd[1]);
	while (n + 1 < outlen &&
	    (r = read(fd[0], out + n, outlen - n - 1)) > 0)
		n += (size_t)r;
	out[n] = '\0';
	out[strcspn(out, "\n")] = '\0';
	close(fd[0]);
	if (waitpid(pid, &status, 0) == -1 || !WIFEXITED(status))
		return (-1);
	return (WEXITSTATUS(status));
}

static void
test_pyjwt(void)
{
	struct tok_claims	 c, out;
	json_t			*jwks, *got;
	char			 token[4096], text[4096], pub[600], prv[600];
	char			*mine, *pay, *jwk, now_s[96];
	int64_t			 now = (int64_t)time(NULL);
	FILE			*fp;

	if (access(PY, X_OK) == -1 || access(PYJWT, R_OK) == -1) {
		UT_CHECK(!"/usr/bin/python3 and " PYJWT " are needed");
		return;
	}
	(void)snprintf(prv, sizeof(prv), "%s/keys/%s.pem", root, kid);
	(void)snprintf(pub, sizeof(pub), "%s/pub.pem", root);
	if ((fp = fopen(pub, "w")) == NULL)
		crm_fatal("%s", pub);
	fputs(ring.keys[0].pub_pem, fp);
	fclose(fp);

	/* PyJWT signs with our PEM; tok_verify accepts. */
	(void)snprintf(now_s, sizeof(now_s), "{\"iat\":%lld,\"nbf\":%lld,"
	    "\"exp\":%lld}", (long long)now, (long long)now,
	    (long long)now + 900);
	pay = claims(now_s, NULL);
	UT_EQ_INT(py((const char *[]){ "sign", prv, kid, pay, NULL }, token,
	    sizeof(token), 0), 0);
	UT_EQ_INT(verify_at(token, now, &out), TOK_OK);
	UT_EQ_STR(out.sub, SUB);
	UT_EQ_INT(out.exp, now + 900);
	UT_EQ_INT(strlen(strrchr(token, '.') + 1), 86);
	xfree(pay);

	/* tok_sign signs; PyJWT verifies with the PEM and with our JWK. */
	base(&c, now);
	UT_EQ_INT(tok_sign(&ring, &c, &mine), 0);
	UT_EQ_INT(py((const char *[]){ "verify", pub, mine, AUD, NULL }, text,
	    sizeof(text), 0), 0);
	got = json_loads(text, 0, NULL);
	UT_EQ_STR(js_get_str(got, "sub"), SUB);
	UT_EQ_STR(js_get_str(got, "tt"), "access");
	UT_EQ_INT(json_integer_value(json_object_get(got, "exp")), now + 900);
	json_decref(got);

	jwks = kr_jwks(&ring, now);
	jwk = js_dump(json_array_get(json_object_get(jwks, "keys"), 0), NULL);
	UT_EQ_INT(py((const char *[]){ "verify-jwk", jwk, mine, AUD, NULL },
	    text, sizeof(text), 0), 0);
	UT_CHECK(strstr(text, SUB) != NULL);
	/* And PyJWT refuses a flipped bit too: the test can fail. */
	mine[strlen(mine) - 10] ^= 1;
	UT_EQ_INT(py((const char *[]){ "verify", pub, mine, AUD, NULL }, text,
	    sizeof(text), 1), 1);
	xfree(jwk);
	json_decref(jwks);
	xfree(mine);
}

/*
 * What libjwt 1.10.2 does on its own with some of the tokens above:
 * printed, not checked, so a fixed libjwt does not fail the build; the
 * point is that tok_verify() refuses them whatever libjwt does.
 */
static void
libjwt_says(const char *what, const char *token, const char *key,
    size_t keylen)
{
	jwt_t		*j = NULL;
	char		*g = NULL;
	int		 rc;

	rc = jwt_decode(&j, token, (const unsigned char *)key, (int)keylen);
	if (rc == 0 && j != NULL)
		g = jwt_get_grants_json(j, "iss");
	printf("note: libjwt alone %s: %s%s%s\n", rc == 0 ? "ACCEPTS" :
	    "refuses", what, g != NULL ? ", iss = " : "", g != NULL ? g : "");
	free(g);
	jwt_free(j);
}

static void
test_libjwt_facts(void)
{
	const struct kr_key	*k = &ring.keys[0];
	char			*pay, *t, *old;
	jwt_t			*j = NULL;
	long			 v;

	pay = claims(NULL, NULL);
	t = mk("{\"alg\":\"HS256\",\"typ\":\"JWT\"}", pay, S_HS256_PUB);
	libjwt_says("HS256 MACed with our public PEM", t, k->pub_pem,
	    k->pub_len);
	xfree(t);
	t = mk("{\"alg\":\"HS256\",\"typ\":\"JWT\"}", pay, S_HS256_EMPTY);
	libjwt_says("HS256 MACed with an empty key, key NULL", t, NULL, 0);
	xfree(t);
	t = mk("{\"alg\":\"none\"}", pay, S_NONE);
	libjwt_says("alg none, key NULL", t, NULL, 0);
	xfree(t);
	t = mk("{\"alg\":\"ES256\",\"typ\":\"jwt\",\"crit\":[\"x\"]}", pay,
	    S_ES256);
	libjwt_says("typ jwt and a crit header", t, k->pub_pem, k->pub_len);
	xfree(t);
	old = claims("{\"iat\":1000,\"nbf\":1000,\"exp\":1900}", NULL);
	t = mk(HDR, old, S_ES256);
	libjwt_says("a token expired in 1970", t, k->pub_pem, k->pub_len);
	xfree(old);
	old = cat(t, "==", "");
	libjwt_says("'==' after the signature", old, k->pub_pem, k->pub_len);
	xfree(old);
	xfree(t);
	old = xstrndup(pay, strlen(pay) - 1);
	t = cat(old, ",\"iss\":\"evil\"}", "");
	xfree(old);
	old = mk(HDR, t, S_ES256);
	libjwt_says("duplicate iss", old, k->pub_pem, k->pub_len);
	xfree(old);
	xfree(t);

	xfree(pay);
	pay = claims("{\"exp\":\"1700000900\"}", NULL);
	t = mk(HDR, pay, S_ES256);
	if (jwt_decode(&j, t, (const unsigned char *)k->pub_pem,
	    (int)k->pub_len) == 0) {
		errno = 0;
		v = jwt_get_grant_int(j, "exp");
		printf("note: libjwt jwt_get_grant_int on exp \"1700000900\": "
		    "%ld, errno %d\n", v, errno);
	}
	jwt_free(j);
	xfree(t);
	xfree(pay);
}

/* Per-operation timings, printed for the record (SECURITY.md 1). */
static double
now_us(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (ts.tv_sec * 1e6 + ts.tv_nsec / 1e3);
}

static void
test_bench(void)
{
	const struct kr_key	*k = &ring.keys[0];
	struct tok_claims	 c, out;
	jwt_t			*j;
	char			*t;
	double			 t0, sign_us, verify_us, decode_us, hit_ns;
	int			 i, n, ok = 0;

	n = RUNNING_ON_VALGRIND ? 5 : 500;
	base(&c, T0);
	t0 = now_us();
	for (i = 0; i < n; i++) {
		c.jti[0] = '\0';
		ok += tok_sign(&ring, &c, &t) == 0;
		if (i < n - 1)
			xfree(t);
	}
	sign_us = (now_us() - t0) / n;
	UT_EQ_INT(ok, n);

	t0 = now_us();
	for (i = 0, ok = 0; i < n; i++)
		ok += verify_at(t, T0, &out) == TOK_OK;
	verify_us = (now_us() - t0) / n;
	UT_EQ_INT(ok, n);

	t0 = now_us();
	for (i = 0; i < n; i++) {
		j = NULL;
		(void)jwt_decode(&j, t, (const unsigned char *)k->pub_pem,
		    (int)k->pub_len);
		jwt_free(j);
	}
	decode_us = (now_us() - t0) / n;

	tok_cache_put(t, &out);
	n = RUNNING_ON_VALGRIND ? 100 : 200000;
	t0 = now_us();
	for (i = 0, ok = 0; i < n; i++)
		ok += tok_cache_get(&ring, t, T0, &out) == 0;
	hit_ns = (now_us() - t0) * 1e3 / n;
	UT_EQ_INT(ok, n);
	printf("bench: ES256 sign %.1f us/op, verify %.1f us/op (of which "
	    "jwt_decode %.1f us), cache hit %.0f ns/op (token %zu bytes)\n",
	    sign_us, verify_us, decode_us, hit_ns, strlen(t));
	tok_cache_flush();
	xfree(t);
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return (remove(path));
}

static void
setup(void)
{
	char		dir[600];

	if (mkdtemp(root) == NULL)
		crm_fatal("mkdtemp");
	(void)snprintf(dir, sizeof(dir), "%s/keys", root);
	if (kr_rotate_at(dir, T0 - 10, 0) == -1 ||
	    kr_load_at(dir, T0, &ring) == -1)
		crm_fatal("keyring: %s", kr_error());
	kid = ring.keys[0].kid;
	ours = pem_key(ring.keys[0].priv_pem);
	foreign = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
	if (ours == NULL || foreign == NULL || rsa == NULL)
		crm_fatal("test keys");
}

int
main(void)
{
	setup();
	UT_TEST(test_header_cases);
	UT_TEST(test_claim_cases);
	UT_TEST(test_payload_cases);
	UT_TEST(test_tamper_cases);
	UT_TEST(test_encoding_cases);
	UT_TEST(test_sign);
	UT_TEST(test_sign_refuses);
	UT_TEST(test_rotation);
	UT_TEST(test_cache);
	UT_TEST(test_pyjwt);
	UT_TEST(test_libjwt_facts);
	UT_TEST(test_bench);
	EVP_PKEY_free(ours);
	EVP_PKEY_free(foreign);
	EVP_PKEY_free(rsa);
	kr_free(&ring);
	(void)nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return (ut_summary());
}
