/*
 * tok.c: access tokens, signed and verified, and the verified-token cache.
 *
 * libjwt 1.10.2 checks a signature and nothing else, and it takes the
 * algorithm from the token (SECURITY.md finding 1: it accepts alg none
 * without a key, HS256 MACed with our public PEM or with an empty key,
 * duplicate header and claim names with the last one winning, a crit
 * header, '=' after the signature).  So tok_verify() decides everything
 * before and after jwt_decode() itself, in the order of section 3.2:
 * shape, header, key, signature size and payload syntax, then libjwt for
 * the ECDSA check only, then every claim from the signed bytes, which must
 * also be what libjwt parsed.
 *
 * Cost: libjwt parses the key PEM on every call, and OpenSSL 3.0's PEM
 * decoder is most of the 0.5-0.9 ms a sign or a verify costs here
 * (measured: PEM_read_bio_PUBKEY 0.7 ms alone; the ECDSA itself 43 us to
 * sign, 93 us to verify).  Hence the cache at the end of this file, which
 * answers a repeat token in about 0.6 us.
 *
 * Left to others: keys (keyring.c), revocation by session version and jti
 * and the tenant's state (the identity module), the 401 reply (pipeline).
 */

#include <sys/types.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jwt.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include "auth.h"

#define TOK_SIG_LEN		64	/* ES256: raw r || s (RFC 7518 3.4) */
#define TOK_SIG_CHARS		86	/* its base64url length */
#define TOK_TIME_MAX		((int64_t)1 << 40)

struct tok_parts {
	const char	*seg[3];
	size_t		 len[3];
};

static const char *const	tok_errs[] = {
	"ok", "token_length", "token_format", "header_invalid", "alg_refused",
	"typ_refused", "kid_invalid", "crit_refused", "header_member_refused",
	"kid_unknown", "kid_retired", "signature_length", "signature_invalid",
	"payload_invalid", "exp_invalid", "nbf_invalid", "iat_invalid",
	"token_expired", "token_not_yet_valid", "iat_in_future",
	"lifetime_too_long", "iss_mismatch", "aud_mismatch", "not_access_token",
	"sub_invalid", "tid_invalid", "sid_invalid", "sv_invalid",
	"jti_invalid", "role_invalid", "kind_invalid", "internal_error",
};

const char *
tok_strerr(int code)
{
	if (code > 0 || (size_t)-code >= sizeof(tok_errs) / sizeof(tok_errs[0]))
		return ("unknown");
	return (tok_errs[-code]);
}

/* Claim shapes, shared by signing and verifying. */

static int
tok_text_ok(const char *s, size_t max)
{
	size_t		i;

	for (i = 0; s[i] != '\0'; i++) {
		if (i + 1 >= max || s[i] <= 0x20 || s[i] >= 0x7f)
			return (0);
	}
	return (i > 0);
}

/* Roles are [A-Za-z0-9_.:-]{1,63}; kinds [a-z_]{1,15}. */
static int
tok_word_ok(const char *s, size_t max, int lower_only)
{
	size_t		i;
	char		c;

	for (i = 0; (c = s[i]) != '\0'; i++) {
		if (i + 1 >= max)
			return (0);
		if ((c >= 'a' && c <= 'z') || c == '_')
			continue;
		if (lower_only || !((c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '.' || c == ':' || c == '-'))
			return (0);
	}
	return (i > 0);
}

static int
tok_uuid_ok(const char *s)
{
	uint8_t		raw[UUID_LEN];

	return (uuid7_parse(s, raw) == 0);
}

static int
tok_claims_ok(const struct tok_claims *c)
{
	return (tok_text_ok(c->iss, sizeof(c->iss)) &&
	    tok_text_ok(c->aud, sizeof(c->aud)) &&
	    tok_uuid_ok(c->sub) && tok_uuid_ok(c->tid) &&
	    tok_uuid_ok(c->sid) && tok_uuid_ok(c->jti) &&
	    tok_word_ok(c->role, sizeof(c->role), 0) &&
	    (c->kind[0] == '\0' || tok_word_ok(c->kind, sizeof(c->kind), 1)) &&
	    c->sv >= 0 && c->iat > 0 && c->iat <= TOK_TIME_MAX);
}

/* Signing. */

static int
tok_grants(jwt_t *j, const struct tok_claims *c)
{
	if (jwt_add_grant(j, "iss", c->iss) != 0 ||
	    jwt_add_grant(j, "aud", c->aud) != 0 ||
	    jwt_add_grant(j, "sub", c->sub) != 0 ||
	    jwt_add_grant(j, "tid", c->tid) != 0 ||
	    jwt_add_grant(j, "sid", c->sid) != 0 ||
	    jwt_add_grant(j, "jti", c->jti) != 0 ||
	    jwt_add_grant(j, "role", c->role) != 0 ||
	    jwt_add_grant(j, "tt", "access") != 0 ||
	    jwt_add_grant_int(j, "sv", (long)c->sv) != 0 ||
	    jwt_add_grant_int(j, "iat", (long)c->iat) != 0 ||
	    jwt_add_grant_int(j, "nbf", (long)c->nbf) != 0 ||
	    jwt_add_grant_int(j, "exp", (long)c->exp) != 0)
		return (-1);
	if (c->kind[0] != '\0' && jwt_add_grant(j, "kind", c->kind) != 0)
		return (-1);
	return (0);
}

/*
 * Fills in what the caller left zero (iat = now, jti = a new UUIDv7),
 * derives nbf and exp, refuses claims tok_verify() would refuse, and signs
 * with the key active at iat.  *out is the token, to free with xfree.
 */
int
tok_sign(const struct kr_ring *ring, struct tok_claims *c, char **out)
{
	const struct kr_key	*k;
	jwt_t			*j = NULL;
	char			*t;
	int			 rc = -1;

	*out = NULL;
	if (c->iat == 0)
		c->iat = (int64_t)time(NULL);
	c->nbf = c->iat;
	c->exp = c->iat + TOK_LIFETIME;
	if (c->jti[0] == '\0')
		uuid7_new_str(c->jti);
	if (!tok_claims_ok(c) || (k = kr_active(ring, c->iat)) == NULL ||
	    k->priv_pem == NULL || jwt_new(&j) != 0)
		return (-1);
	if (tok_grants(j, c) == -1 || jwt_add_header(j, "kid", k->kid) != 0 ||
	    jwt_set_alg(j, JWT_ALG_ES256, (const unsigned char *)k->priv_pem,
	    (int)k->priv_len) != 0 || (t = jwt_encode_str(j)) == NULL)
		goto out;
	*out = xstrdup(t);
	free(t);
	(void)snprintf(c->kid, sizeof(c->kid), "%s", k->kid);
	rc = 0;
out:
	jwt_free(j);
	return (rc);
}

/* Verifying: steps 1 and 2, the token's shape and its header. */

static int
tok_b64_char(char c)
{
	return ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '_');
}

/*
 * The last character of an unpadded segment must leave no stray bits (RFC
 * 4648 section 3.5): otherwise two spellings decode to the same bytes.
 */
static int
tok_b64_canonical(const char *s, size_t len)
{
	static const char	alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				    "abcdefghijklmnopqrstuvwxyz0123456789-_";
	size_t			v;

	if (len % 4 == 1)
		return (0);
	if (len % 4 == 0)
		return (1);
	v = (size_t)(strchr(alpha, s[len - 1]) - alpha);
	return ((v & (len % 4 == 2 ? 0x0f : 0x03)) == 0);
}

/* Exactly three non-empty, canonical segments of base64url characters. */
static int
tok_split(const char *t, size_t len, struct tok_parts *p)
{
	size_t		i, n = 0, start = 0;

	for (i = 0; i <= len; i++) {
		if (i < len && t[i] != '.') {
			if (!tok_b64_char(t[i]))
				return (TOK_E_FORMAT);
			continue;
		}
		if (n == 3 || i == start ||
		    !tok_b64_canonical(t + start, i - start))
			return (TOK_E_FORMAT);
		p->seg[n] = t + start;
		p->len[n++] = i - start;
		start = i + 1;
	}
	return (n == 3 ? TOK_OK : TOK_E_FORMAT);
}

/*
 * Decodes segment i (canonical base64url) and parses it as a JSON object.
 * Returns 0, TOK_E_FORMAT for bad base64url, or bad for anything else.
 */
static int
tok_segment_json(const struct tok_parts *p, int i, int bad, json_t **out)
{
	uint8_t		 raw[TOK_MAX_LEN];
	ssize_t		 n;
	json_t		*j;

	*out = NULL;
	if ((n = b64url_decode(p->seg[i], p->len[i], raw, sizeof(raw))) < 0)
		return (TOK_E_FORMAT);
	if ((j = js_parse(raw, (size_t)n, NULL)) == NULL)
		return (bad);
	if (!json_is_object(j)) {
		json_decref(j);
		return (bad);
	}
	*out = j;
	return (TOK_OK);
}

/* alg exactly ES256, typ absent or JWT, a well-formed kid, nothing else. */
static int
tok_header_members(json_t *h, char kid[KR_KID_MAX + 1])
{
	const char	*alg, *k, *name;
	json_t		*v;

	alg = js_get_str(h, "alg");
	if (alg == NULL || strcmp(alg, KR_ALG) != 0)
		return (TOK_E_ALG);
	v = json_object_get(h, "typ");
	if (v != NULL && (!json_is_string(v) ||
	    strcmp(json_string_value(v), "JWT") != 0))
		return (TOK_E_TYP);
	if ((k = js_get_str(h, "kid")) == NULL || !kr_kid_ok(k))
		return (TOK_E_KID);
	if (json_object_get(h, "crit") != NULL)
		return (TOK_E_CRIT);
	json_object_foreach(h, name, v) {
		if (strcmp(name, "alg") != 0 && strcmp(name, "typ") != 0 &&
		    strcmp(name, "kid") != 0)
			return (TOK_E_HEADER_MEMBER);
	}
	(void)snprintf(kid, KR_KID_MAX + 1, "%s", k);
	return (TOK_OK);
}

static int
tok_header(const struct tok_parts *p, char kid[KR_KID_MAX + 1])
{
	json_t		*h;
	int		 rc;

	if ((rc = tok_segment_json(p, 0, TOK_E_HEADER, &h)) != TOK_OK)
		return (rc);
	rc = tok_header_members(h, kid);
	json_decref(h);
	return (rc);
}

/* Step 3: the key named by kid, if it may verify at now. */
static int
tok_key(const struct kr_ring *ring, const char *kid, int64_t now,
    const struct kr_key **kp)
{
	const struct kr_key	*k;

	if ((k = kr_find(ring, kid)) == NULL)
		return (TOK_E_KID_UNKNOWN);
	if (kr_state(k, now) == KR_RETIRED || k->pub_pem == NULL ||
	    k->pub_len == 0)
		return (TOK_E_KID_RETIRED);
	if (strcmp(k->alg, KR_ALG) != 0)
		return (TOK_E_ALG);
	*kp = k;
	return (TOK_OK);
}

static int
tok_sig_len(const struct tok_parts *p)
{
	uint8_t		sig[TOK_SIG_LEN];

	if (p->len[2] != TOK_SIG_CHARS)
		return (TOK_E_SIG_LENGTH);
	if (b64url_decode(p->seg[2], p->len[2], sig, sizeof(sig)) !=
	    TOK_SIG_LEN)
		return (TOK_E_FORMAT);
	return (TOK_OK);
}

/*
 * Step 4: libjwt checks the signature, and must have parsed the same
 * claims as we did from the same bytes, so no claim can mean one thing to
 * libjwt and another to us (libjwt keeps the last of duplicate names).
 */
static int
tok_signed(const struct kr_key *k, const char *token, const json_t *claims)
{
	jwt_t		*j = NULL;
	json_t		*theirs = NULL;
	char		*grants;
	int		 rc = TOK_OK;

	if (jwt_decode(&j, token, (const unsigned char *)k->pub_pem,
	    (int)k->pub_len) != 0 || j == NULL)
		return (TOK_E_SIGNATURE);
	if (jwt_get_alg(j) != JWT_ALG_ES256)
		rc = TOK_E_ALG;
	else if ((grants = jwt_get_grants_json(j, NULL)) != NULL) {
		theirs = js_parse(grants, strlen(grants), NULL);
		free(grants);
	}
	if (rc == TOK_OK && (theirs == NULL || !json_equal(claims, theirs)))
		rc = TOK_E_PAYLOAD;
	json_decref(theirs);
	jwt_free(j);
	return (rc);
}

/* Step 5: the claims. */

/* jwt_get_grant_int() reads "123" and 1.5 as 0: look at the JSON type. */
static int
tok_int(const json_t *c, const char *name, int64_t max, int64_t *out)
{
	json_t		*v;

	v = json_object_get(c, name);
	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    json_integer_value(v) > max)
		return (-1);
	*out = json_integer_value(v);
	return (0);
}

static int
tok_times(const json_t *c, int64_t now, struct tok_claims *out)
{
	if (tok_int(c, "exp", TOK_TIME_MAX, &out->exp) == -1)
		return (TOK_E_EXP);
	if (tok_int(c, "nbf", TOK_TIME_MAX, &out->nbf) == -1)
		return (TOK_E_NBF);
	if (tok_int(c, "iat", TOK_TIME_MAX, &out->iat) == -1)
		return (TOK_E_IAT);
	if (now >= out->exp + TOK_LEEWAY)
		return (TOK_E_EXPIRED);
	if (now < out->nbf - TOK_LEEWAY)
		return (TOK_E_NOT_YET);
	if (out->iat > now + TOK_LEEWAY)
		return (TOK_E_IAT_FUTURE);
	if (out->exp <= out->iat || out->exp - out->iat > TOK_LIFETIME)
		return (TOK_E_LIFETIME);
	return (TOK_OK);
}

/* aud is our audience, or an array with our audience in it (RFC 7519). */
static int
tok_aud(const json_t *c, const char *audience)
{
	json_t		*v, *e;
	size_t		 i;

	v = json_object_get(c, "aud");
	if (json_is_string(v))
		return (strcmp(json_string_value(v), audience) == 0);
	if (!json_is_array(v))
		return (0);
	json_array_foreach(v, i, e) {
		if (json_is_string(e) &&
		    strcmp(json_string_value(e), audience) == 0)
			return (1);
	}
	return (0);
}

/* A UUID claim, copied out in canonical lower-case form. */
static int
tok_uuid(const json_t *c, const char *name, char out[UUID_STRLEN + 1])
{
	const char	*s;
	uint8_t		 raw[UUID_LEN];

	if ((s = js_get_str(c, name)) == NULL || uuid7_parse(s, raw) == -1)
		return (-1);
	uuid7_fmt(raw, out);
	return (0);
}

static int
tok_word(const json_t *c, const char *name, char *out, size_t max, int lower)
{
	const char	*s;

	if ((s = js_get_str(c, name)) == NULL || !tok_word_ok(s, max, lower))
		return (-1);
	(void)snprintf(out, max, "%s", s);
	return (0);
}

static int
tok_identity(const json_t *c, const char *issuer, const char *audience,
    struct tok_claims *out)
{
	const char	*s;

	if ((s = js_get_str(c, "iss")) == NULL || strcmp(s, issuer) != 0)
		return (TOK_E_ISS);
	if (!tok_aud(c, audience))
		return (TOK_E_AUD);
	if ((s = js_get_str(c, "tt")) == NULL || strcmp(s, "access") != 0)
		return (TOK_E_TT);
	if (tok_uuid(c, "sub", out->sub) == -1)
		return (TOK_E_SUB);
	if (tok_uuid(c, "tid", out->tid) == -1)
		return (TOK_E_TID);
	if (tok_uuid(c, "sid", out->sid) == -1)
		return (TOK_E_SID);
	if (tok_int(c, "sv", INT64_MAX, &out->sv) == -1)
		return (TOK_E_SV);
	if (tok_uuid(c, "jti", out->jti) == -1)
		return (TOK_E_JTI);
	if (tok_word(c, "role", out->role, sizeof(out->role), 0) == -1)
		return (TOK_E_ROLE);
	if (json_object_get(c, "kind") != NULL &&
	    tok_word(c, "kind", out->kind, sizeof(out->kind), 1) == -1)
		return (TOK_E_KIND);
	(void)snprintf(out->iss, sizeof(out->iss), "%s", issuer);
	(void)snprintf(out->aud, sizeof(out->aud), "%s", audience);
	return (TOK_OK);
}

/*
 * SECURITY.md section 3.2 steps 1-5.  Everything that needs no key is
 * checked before libjwt (0.5-0.9 ms, see above), the claims' meaning only
 * once the signature holds.  On TOK_OK *out holds the claims
 * and the kid that signed them; on failure *out is zeroed.
 */
int
tok_verify(const struct kr_ring *ring, const char *token, int64_t now,
    const char *issuer, const char *audience, struct tok_claims *out)
{
	const struct kr_key	*k = NULL;
	struct tok_parts	 p;
	json_t			*claims = NULL;
	char			 kid[KR_KID_MAX + 1];
	size_t			 len;
	int			 rc;

	memset(out, 0, sizeof(*out));
	if (now < 0 || now > TOK_TIME_MAX ||
	    strlen(issuer) >= sizeof(out->iss) ||
	    strlen(audience) >= sizeof(out->aud))
		return (TOK_E_INTERNAL);
	len = strnlen(token, TOK_MAX_LEN + 1);
	if (len == 0 || len > TOK_MAX_LEN)
		return (TOK_E_LENGTH);
	if ((rc = tok_split(token, len, &p)) != TOK_OK ||
	    (rc = tok_header(&p, kid)) != TOK_OK ||
	    (rc = tok_key(ring, kid, now, &k)) != TOK_OK ||
	    (rc = tok_sig_len(&p)) != TOK_OK ||
	    (rc = tok_segment_json(&p, 1, TOK_E_PAYLOAD, &claims)) != TOK_OK ||
	    (rc = tok_signed(k, token, claims)) != TOK_OK ||
	    (rc = tok_times(claims, now, out)) != TOK_OK ||
	    (rc = tok_identity(claims, issuer, audience, out)) != TOK_OK)
		memset(out, 0, sizeof(*out));
	else
		(void)snprintf(out->kid, sizeof(out->kid), "%s", kid);
	json_decref(claims);
	return (rc);
}

/*
 * The verified-token cache.  Slots are found by the first bytes of the
 * token's SHA-256 and TOK_CACHE_PROBE neighbours (open addressing); when
 * all are taken, the one that expires first is evicted.  Each Kore worker
 * has its own table: entries are made after fork.
 */
struct tok_slot {
	uint8_t			hash[SHA256_DIGEST_LENGTH];
	int64_t			until;	/* exp + leeway; 0: empty */
	struct tok_claims	claims;
};

static struct tok_slot	tok_cache[TOK_CACHE_SLOTS];

/*
 * SHA-256 with the implementation fetched once: OpenSSL 3.0's SHA256()
 * looks it up on every call, which was half the cost of a hit.
 */
static size_t
tok_cache_hash(const char *token, uint8_t h[SHA256_DIGEST_LENGTH])
{
	static EVP_MD	*md;

	if (md == NULL && (md = EVP_MD_fetch(NULL, "SHA256", NULL)) == NULL)
		crm_fatal("tok: no SHA-256 in OpenSSL");
	if (EVP_Digest(token, strnlen(token, TOK_MAX_LEN + 1), h, NULL, md,
	    NULL) != 1)
		crm_fatal("tok: SHA-256 failed");
	return (((size_t)h[0] | (size_t)h[1] << 8) & (TOK_CACHE_SLOTS - 1));
}

int
tok_cache_get(const struct kr_ring *ring, const char *token, int64_t now,
    struct tok_claims *out)
{
	const struct kr_key	*k;
	struct tok_slot		*s;
	uint8_t			 h[SHA256_DIGEST_LENGTH];
	size_t			 i, idx;

	if (strnlen(token, TOK_MAX_LEN + 1) > TOK_MAX_LEN)
		return (-1);
	idx = tok_cache_hash(token, h);
	for (i = 0; i < TOK_CACHE_PROBE; i++) {
		s = &tok_cache[(idx + i) & (TOK_CACHE_SLOTS - 1)];
		if (s->until == 0 || CRYPTO_memcmp(s->hash, h, sizeof(h)) != 0)
			continue;
		k = kr_find(ring, s->claims.kid);
		if (now >= s->until || now < s->claims.nbf - TOK_LEEWAY ||
		    k == NULL || kr_state(k, now) == KR_RETIRED) {
			memset(s, 0, sizeof(*s));
			return (-1);
		}
		*out = s->claims;
		return (0);
	}
	return (-1);
}

void
tok_cache_put(const char *token, const struct tok_claims *c)
{
	struct tok_slot	*s, *victim = NULL;
	uint8_t		 h[SHA256_DIGEST_LENGTH];
	size_t		 i, idx;

	idx = tok_cache_hash(token, h);
	for (i = 0; i < TOK_CACHE_PROBE; i++) {
		s = &tok_cache[(idx + i) & (TOK_CACHE_SLOTS - 1)];
		if (s->until == 0 || memcmp(s->hash, h, sizeof(h)) == 0) {
			victim = s;
			break;
		}
		if (victim == NULL || s->until < victim->until)
			victim = s;
	}
	memcpy(victim->hash, h, sizeof(h));
	victim->until = c->exp + TOK_LEEWAY;
	victim->claims = *c;
}

void
tok_cache_flush(void)
{
	memset(tok_cache, 0, sizeof(tok_cache));
}
