/*
 * auth.h: identity primitives, Kore-free.
 *
 * Who signs access tokens and with which key, what a token must look like
 * to be believed, how passwords and API keys are stored.  Nothing here
 * talks to PostgreSQL, Redis or Kore: the identity module and the request
 * pipeline (SECURITY.md section 3.2 steps 6-7) do that with what these
 * functions return.
 *
 *	keyring.c	kr_	ES256 signing keys on disk, their life cycle, JWKS
 *	tok.c		tok_	access tokens (sign, verify), verified-token cache
 *	pw.c		pw_	argon2id password hashes, password policy
 *	akey.c		akey_	API keys, opaque refresh and invitation tokens
 *
 * Times are Unix seconds in an int64_t.  Every rule that depends on the
 * clock takes the time as a parameter (the plain forms read the clock and
 * call the _at forms), so tests move time instead of sleeping.
 *
 * Threads: pw_hash(), pw_verify(), pw_dummy_verify() and everything in
 * akey.c may run in Kore task threads.  The key ring, tok_verify() on a
 * ring being reloaded, the token cache and pw_blocklist_load() belong to
 * one thread (a Kore worker's event loop, crmctl, crm-worker).
 */

#ifndef CRM_AUTH_H
#define CRM_AUTH_H

#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <jansson.h>

#include "crm.h"

/* Access tokens live 15 minutes; clocks may disagree by a minute. */
#define TOK_LIFETIME		900
#define TOK_LEEWAY		60
#define TOK_MAX_LEN		4096

/*
 * keyring.c: ES256 (P-256) signing keys in a directory (crm_conf.keys_dir):
 * <kid>.pem (PKCS#8 private key, mode 0600) and keyring.json, an array of
 * {kid, alg, created_at, activate_at}.  Keys are ordered by activate_at.
 *
 *	PENDING	in the file, activate_at still ahead: verifies only
 *	ACTIVE	the key with the greatest activate_at <= now: signs
 *	VERIFY	a later key is active, for at most KR_RETIRE_AFTER seconds:
 *		tokens it signed may still be alive
 *	RETIRED	a later key has been active for more than KR_RETIRE_AFTER:
 *		verifies nothing; its PEM is deleted KR_PRUNE_AFTER later
 *
 * Workers see a new key only after kr_reload_if_changed(), so rotations
 * in production should use activate_in >= TOK_LIFETIME (section 3.2).
 */
#define KR_ALG			"ES256"
#define KR_KID_LEN		16	/* kids we make: 12 random bytes */
#define KR_KID_MAX		32	/* kids we accept (RFC 8725 3.10) */
#define KR_RETIRE_AFTER		(TOK_LIFETIME + TOK_LEEWAY)
#define KR_PRUNE_AFTER		86400
#define KR_COORD_LEN		43	/* base64url of a 32-byte coordinate */

enum kr_state {
	KR_PENDING,
	KR_ACTIVE,
	KR_VERIFY,
	KR_RETIRED
};

struct kr_key {
	char		 kid[KR_KID_MAX + 1];
	char		 alg[8];
	int64_t		 created_at;
	int64_t		 activate_at;
	int64_t		 superseded_at;	/* next key's activate_at, or MAX */
	char		*priv_pem;	/* only keys that may still sign */
	size_t		 priv_len;
	char		*pub_pem;	/* NULL: retired when loaded */
	size_t		 pub_len;
	char		 x[KR_COORD_LEN + 1];	/* JWK coordinates */
	char		 y[KR_COORD_LEN + 1];
};

/* Identity of keyring.json as last seen: rename() changes the inode. */
struct kr_seen {
	dev_t		dev;
	ino_t		ino;
	off_t		size;
	struct timespec	mtime;
};

struct kr_ring {
	char		*dir;
	struct kr_key	*keys;		/* by activate_at, oldest first */
	size_t		 nkeys;
	struct kr_seen	 seen;
};

int		 kr_load(const char *, struct kr_ring *);
int		 kr_load_at(const char *, int64_t, struct kr_ring *);
int		 kr_reload_if_changed(struct kr_ring *); /* 1 new, 0 same, -1 */
void		 kr_free(struct kr_ring *);
int		 kr_rotate(const char *, int64_t);
int		 kr_rotate_at(const char *, int64_t, int64_t);
int		 kr_init_if_empty(const char *);	/* 1 made, 0 had, -1 */
enum kr_state	 kr_state(const struct kr_key *, int64_t);
const struct kr_key *kr_active(const struct kr_ring *, int64_t);
const struct kr_key *kr_find(const struct kr_ring *, const char *);
json_t		*kr_jwks(const struct kr_ring *, int64_t);
int		 kr_kid_ok(const char *);
const char	*kr_error(void);	/* why the last kr_ call failed */

/*
 * tok.c: access tokens (JWT, ES256) and the verified-token cache.
 *
 * tok_verify() runs SECURITY.md section 3.2 steps 1-5 and returns 0 or a
 * negative enum tok_err; tok_strerr() names it for logs only (clients get
 * one generic 401).  Steps 6-7 (session version, denylist, tenant state)
 * belong to the caller.
 */
#define TOK_STR_MAX		128	/* iss, aud */
#define TOK_ROLE_MAX		64
#define TOK_KIND_MAX		16

struct tok_claims {
	char		iss[TOK_STR_MAX];
	char		aud[TOK_STR_MAX];	/* verify: the audience matched */
	char		sub[UUID_STRLEN + 1];	/* user id */
	char		tid[UUID_STRLEN + 1];	/* tenant id */
	char		sid[UUID_STRLEN + 1];	/* session id */
	char		jti[UUID_STRLEN + 1];	/* sign: made if empty */
	char		role[TOK_ROLE_MAX];
	char		kind[TOK_KIND_MAX];	/* optional: "" when absent */
	int64_t		sv;			/* session version */
	int64_t		iat;			/* sign: now if 0 */
	int64_t		nbf;			/* sign: = iat */
	int64_t		exp;			/* sign: = iat + TOK_LIFETIME */
	char		kid[KR_KID_MAX + 1];	/* set by sign and verify */
};

enum tok_err {
	TOK_OK = 0,
	TOK_E_LENGTH = -1,	/* empty or longer than TOK_MAX_LEN */
	TOK_E_FORMAT = -2,	/* not 3 canonical base64url segments */
	TOK_E_HEADER = -3,	/* header not a JSON object, duplicate keys */
	TOK_E_ALG = -4,		/* alg not ES256, or not the key's alg */
	TOK_E_TYP = -5,		/* typ present and not "JWT" */
	TOK_E_KID = -6,		/* kid missing or not [A-Za-z0-9_-]{1,32} */
	TOK_E_CRIT = -7,	/* crit present */
	TOK_E_HEADER_MEMBER = -8, /* a header member other than alg/typ/kid */
	TOK_E_KID_UNKNOWN = -9,
	TOK_E_KID_RETIRED = -10,
	TOK_E_SIG_LENGTH = -11,	/* signature not 64 bytes (raw r||s) */
	TOK_E_SIGNATURE = -12,	/* libjwt refused the signature */
	TOK_E_PAYLOAD = -13,	/* claims not one JSON object (duplicates) */
	TOK_E_EXP = -14,	/* exp missing or not an integer in range */
	TOK_E_NBF = -15,
	TOK_E_IAT = -16,
	TOK_E_EXPIRED = -17,	/* now >= exp + leeway */
	TOK_E_NOT_YET = -18,	/* now < nbf - leeway */
	TOK_E_IAT_FUTURE = -19,	/* iat > now + leeway */
	TOK_E_LIFETIME = -20,	/* exp <= iat or exp - iat > TOK_LIFETIME */
	TOK_E_ISS = -21,
	TOK_E_AUD = -22,
	TOK_E_TT = -23,		/* not an access token */
	TOK_E_SUB = -24,
	TOK_E_TID = -25,
	TOK_E_SID = -26,
	TOK_E_SV = -27,
	TOK_E_JTI = -28,
	TOK_E_ROLE = -29,
	TOK_E_KIND = -30,
	TOK_E_INTERNAL = -31
};

int		 tok_sign(const struct kr_ring *, struct tok_claims *, char **);
int		 tok_verify(const struct kr_ring *, const char *, int64_t,
		    const char *, const char *, struct tok_claims *);
const char	*tok_strerr(int);

/*
 * The verified-token cache: a fixed table in each process, keyed by
 * SHA-256 of the token, so a repeat token skips ECDSA.  Put only what
 * tok_verify() accepted.  An entry lives until the token's exp + leeway,
 * and a hit still requires its key not to be retired (or removed) in the
 * ring given.  Revocation (sv, jti) is not cached here: check it on hits.
 */
#define TOK_CACHE_SLOTS		4096
#define TOK_CACHE_PROBE		4

int		 tok_cache_get(const struct kr_ring *, const char *, int64_t,
		    struct tok_claims *);	/* 0 hit, -1 miss */
void		 tok_cache_put(const char *, const struct tok_claims *);
void		 tok_cache_flush(void);

/*
 * pw.c: argon2id password hashes and the password policy (SECURITY.md
 * AUTH-12..14, section 3.3).  pw_hash() and pw_verify() cost one KDF run
 * each: call them off the event loop (Kore task threads).
 */
#define PW_MIN_CHARS		15	/* code points; no MFA in this product */
#define PW_MAX_CHARS		128	/* code points */
#define PW_MAX_BYTES		512
#define PW_ENCODED_MAX		128
#define PW_M_KIB		47104	/* see pw.c for the measurement */
#define PW_T			1
#define PW_P			1

int		 pw_hash(const char *, size_t, char [PW_ENCODED_MAX]);
int		 pw_verify(const char *, const char *, size_t); /* 0 match */
void		 pw_dummy_verify(const char *, size_t);
const char	*pw_dummy_hash(void);	/* for tests: its parameters */
int		 pw_needs_rehash(const char *);
int		 pw_policy_check(const char *, size_t, const char **);
int		 pw_blocklist_load(const char *);	/* entries, or -1 */
int		 pw_blocklist_has(const char *, size_t);
void		 pw_blocklist_free(void);

/*
 * akey.c: API keys (SECURITY.md KEY-06, section 3.4) and opaque tokens.
 *
 * A key is crm_live_<8 id>_<43 secret><6 checksum>, all [A-Za-z0-9]: the
 * secret is 256 random bits in base62, the checksum CRC-32 (zlib) of
 * everything before it in base62.  The database stores the public id and
 * SHA-256 of the whole key.  Refresh and invitation tokens are 256 random
 * bits in base64url; the database stores their SHA-256.
 */
#define AKEY_PREFIX		"crm_live_"
#define AKEY_PREFIX_LEN		9
#define AKEY_ID_LEN		8
#define AKEY_SECRET_LEN		43
#define AKEY_CRC_LEN		6
#define AKEY_LEN		(AKEY_PREFIX_LEN + AKEY_ID_LEN + 1 + \
				    AKEY_SECRET_LEN + AKEY_CRC_LEN)
#define AKEY_TOKEN_LEN		43
#define AKEY_HASH_LEN		32

void		 akey_new(char [AKEY_LEN + 1], char [AKEY_ID_LEN + 1],
		    uint8_t [AKEY_HASH_LEN]);
int		 akey_parse(const char *, char [AKEY_ID_LEN + 1],
		    uint8_t [AKEY_HASH_LEN]);
int		 akey_hash_eq(const uint8_t [AKEY_HASH_LEN],
		    const uint8_t [AKEY_HASH_LEN]);
int		 akey_is_key(const char *);
void		 akey_token(char [AKEY_TOKEN_LEN + 1], uint8_t [AKEY_HASH_LEN]);
int		 akey_token_hash(const char *, uint8_t [AKEY_HASH_LEN]);
uint32_t	 akey_crc32(const void *, size_t);

#endif /* CRM_AUTH_H */
