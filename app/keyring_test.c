/*
 * keyring_test.c: the signing key ring (keyring.c): first key, rotation,
 * the PENDING/ACTIVE/VERIFY/RETIRED states over simulated time, pruning,
 * JWKS content checked against the PEMs with OpenSSL, atomic 0600 files,
 * reloads, refusals of bad directories, and concurrent initialisation.
 * Works in fresh directories under /tmp and removes them.
 */

#include <sys/stat.h>
#include <sys/wait.h>

#include <dirent.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "auth.h"
#include "ut.h"

/* Split so that secret scanners do not take this test for a key. */
#define PEM_PKCS8_HEAD	"-----BEGIN " "PRIVATE KEY-----"

#define T0		((int64_t)1700000000)

static char	root[] = "/tmp/crm-kr-XXXXXX";

static char *
sub(const char *name)
{
	static char	path[4][512];
	static int	i;
	char		*p = path[i++ % 4];

	(void)snprintf(p, sizeof(path[0]), "%s/%s", root, name);
	return (p);
}

static char *
file(const char *dir, const char *name, const char *ext)
{
	static char	path[4][600];
	static int	i;
	char		*p = path[i++ % 4];

	(void)snprintf(p, sizeof(path[0]), "%s/%s%s", dir, name, ext);
	return (p);
}

static int
mode_of(const char *path)
{
	struct stat	st;

	if (stat(path, &st) == -1)
		return (-1);
	return ((int)(st.st_mode & 07777));
}

/* Files in dir whose name starts with prefix and ends with suffix. */
static int
count(const char *dir, const char *prefix, const char *suffix)
{
	DIR		*d;
	struct dirent	*e;
	size_t		 n, s = strlen(suffix);
	int		 c = 0;

	if ((d = opendir(dir)) == NULL)
		return (-1);
	while ((e = readdir(d)) != NULL) {
		n = strlen(e->d_name);
		if (strncmp(e->d_name, prefix, strlen(prefix)) == 0 &&
		    n >= s && strcmp(e->d_name + n - s, suffix) == 0)
			c++;
	}
	closedir(d);
	return (c);
}

static void
put(const char *path, const char *text, int mode)
{
	FILE		*fp;

	if ((fp = fopen(path, "w")) == NULL)
		crm_fatal("put %s", path);
	fputs(text, fp);
	fclose(fp);
	chmod(path, (mode_t)mode);
}

static char *
slurp(const char *path)
{
	static char	text[8192];
	FILE		*fp;
	size_t		 n;

	text[0] = '\0';
	if ((fp = fopen(path, "r")) == NULL)
		return (text);
	n = fread(text, 1, sizeof(text) - 1, fp);
	text[n] = '\0';
	fclose(fp);
	return (text);
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return (remove(path));
}

static void
test_kid_ok(void)
{
	UT_CHECK(kr_kid_ok("abcDEF012_-"));
	UT_CHECK(kr_kid_ok("a"));
	UT_CHECK(kr_kid_ok("0123456789abcdef0123456789abcdef"));	/* 32 */
	UT_CHECK(!kr_kid_ok("0123456789abcdef0123456789abcdef0"));
	UT_CHECK(!kr_kid_ok(""));
	UT_CHECK(!kr_kid_ok("../../x"));
	UT_CHECK(!kr_kid_ok("a' OR 1=1"));
	UT_CHECK(!kr_kid_ok("a b"));
	UT_CHECK(!kr_kid_ok("a.pem"));
	UT_CHECK(!kr_kid_ok("a/b"));
}

static void
test_init(void)
{
	struct kr_ring		 ring;
	const struct kr_key	*k;
	const char		*dir = sub("a/b/keys");
	int64_t			 now = (int64_t)time(NULL);

	UT_EQ_INT(kr_init_if_empty(dir), 1);
	UT_EQ_INT(kr_init_if_empty(dir), 0);
	UT_EQ_INT(mode_of(dir), 0700);
	UT_EQ_INT(mode_of(file(dir, "keyring.json", "")), 0600);
	UT_EQ_INT(count(dir, "", ".pem"), 1);
	UT_EQ_INT(count(dir, ".tmp.", ""), 0);

	UT_EQ_INT(kr_load(dir, &ring), 0);
	UT_EQ_INT(ring.nkeys, 1);
	if (ring.nkeys != 1)
		return;
	k = &ring.keys[0];
	UT_EQ_INT(strlen(k->kid), KR_KID_LEN);
	UT_CHECK(kr_kid_ok(k->kid));
	UT_EQ_STR(k->alg, "ES256");
	UT_CHECK(k->created_at >= now && k->created_at <= now + 5);
	UT_EQ_INT(k->activate_at, k->created_at);
	UT_CHECK(kr_active(&ring, now + 5) == k);
	UT_CHECK(kr_find(&ring, k->kid) == k);
	UT_CHECK(kr_find(&ring, "nope") == NULL);
	UT_EQ_INT(mode_of(file(dir, k->kid, ".pem")), 0600);
	UT_CHECK(k->priv_pem != NULL &&
	    strncmp(k->priv_pem, PEM_PKCS8_HEAD, 27) == 0);
	UT_CHECK(k->pub_pem != NULL &&
	    strncmp(k->pub_pem, "-----BEGIN PUBLIC KEY-----", 26) == 0);
	UT_EQ_INT(k->pub_len, strlen(k->pub_pem));
	UT_EQ_INT(strlen(k->x), KR_COORD_LEN);
	UT_EQ_INT(strlen(k->y), KR_COORD_LEN);
	kr_free(&ring);
	UT_CHECK(ring.keys == NULL && ring.nkeys == 0);
}

/* A active from T0; B made at T0+100, active from T0+1000. */
static void
make_ab(const char *dir)
{
	UT_EQ_INT(kr_rotate_at(dir, T0, 0), 0);
	UT_EQ_INT(kr_rotate_at(dir, T0 + 100, 900), 0);
}

static void
test_states(void)
{
	struct kr_ring	 ring;
	struct kr_key	*a, *b;
	const char	*dir = sub("states");

	make_ab(dir);
	UT_EQ_INT(kr_rotate_at(dir, T0, -1), -1);
	UT_EQ_INT(kr_rotate_at(dir, T0, 400 * 86400), -1);
	UT_EQ_INT(kr_load_at(dir, T0 + 100, &ring), 0);
	UT_EQ_INT(ring.nkeys, 2);
	if (ring.nkeys != 2)
		return;
	a = &ring.keys[0];
	b = &ring.keys[1];
	UT_EQ_INT(a->activate_at, T0);
	UT_EQ_INT(b->activate_at, T0 + 1000);
	UT_EQ_INT(b->created_at, T0 + 100);

	UT_EQ_INT(kr_state(a, T0 - 1), KR_PENDING);
	UT_EQ_INT(kr_state(a, T0), KR_ACTIVE);
	UT_EQ_INT(kr_state(b, T0 + 100), KR_PENDING);
	UT_EQ_INT(kr_state(a, T0 + 999), KR_ACTIVE);
	UT_EQ_INT(kr_state(a, T0 + 1000), KR_VERIFY);
	UT_EQ_INT(kr_state(b, T0 + 1000), KR_ACTIVE);
	UT_EQ_INT(kr_state(a, T0 + 1000 + 960), KR_VERIFY);
	UT_EQ_INT(kr_state(a, T0 + 1000 + 961), KR_RETIRED);
	UT_EQ_INT(kr_state(b, T0 + 100000000), KR_ACTIVE);
	UT_CHECK(kr_active(&ring, T0 - 1) == NULL);
	UT_CHECK(kr_active(&ring, T0 + 999) == a);
	UT_CHECK(kr_active(&ring, T0 + 1000) == b);

	/* Both may sign: A now, B when its time comes, without a reload. */
	UT_CHECK(a->priv_pem != NULL && b->priv_pem != NULL);
	kr_free(&ring);

	/* Loaded while A only verifies: no private key in memory. */
	UT_EQ_INT(kr_load_at(dir, T0 + 1500, &ring), 0);
	UT_CHECK(ring.keys[0].priv_pem == NULL);
	UT_CHECK(ring.keys[0].pub_pem != NULL);
	kr_free(&ring);

	/* Loaded after A retired: nothing of A but its entry. */
	UT_EQ_INT(kr_load_at(dir, T0 + 1961, &ring), 0);
	UT_CHECK(ring.keys[0].pub_pem == NULL);
	UT_CHECK(ring.keys[0].priv_pem == NULL);
	UT_CHECK(ring.keys[1].priv_pem != NULL);
	kr_free(&ring);
}

/* Keys that activate the same second: the later rotation wins. */
static void
test_tie(void)
{
	struct kr_ring	 ring;
	const char	*dir = sub("tie");

	UT_EQ_INT(kr_rotate_at(dir, T0, 100), 0);
	UT_EQ_INT(kr_rotate_at(dir, T0 + 50, 50), 0);
	UT_EQ_INT(kr_load_at(dir, T0 + 50, &ring), 0);
	UT_EQ_INT(ring.nkeys, 2);
	UT_EQ_INT(ring.keys[1].created_at, T0 + 50);
	UT_CHECK(kr_active(&ring, T0 + 100) == &ring.keys[1]);
	UT_EQ_INT(kr_state(&ring.keys[0], T0 + 100), KR_VERIFY);
	kr_free(&ring);
}

/* The coordinates of the public key in a PEM file, read with OpenSSL. */
static void
coords(const char *path, char x[KR_COORD_LEN + 1], char y[KR_COORD_LEN + 1])
{
	FILE		*fp;
	EVP_PKEY	*pk;
	BIGNUM		*bx = NULL, *by = NULL;
	uint8_t		 raw[32];

	x[0] = y[0] = '\0';
	if ((fp = fopen(path, "r")) == NULL)
		return;
	pk = PEM_read_PrivateKey(fp, NULL, NULL, NULL);
	fclose(fp);
	if (pk != NULL &&
	    EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_EC_PUB_X, &bx) == 1 &&
	    EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_EC_PUB_Y, &by) == 1) {
		BN_bn2binpad(bx, raw, 32);
		b64url_encode(raw, 32, x, KR_COORD_LEN + 1);
		BN_bn2binpad(by, raw, 32);
		b64url_encode(raw, 32, y, KR_COORD_LEN + 1);
	}
	BN_free(bx);
	BN_free(by);
	EVP_PKEY_free(pk);
}

static void
check_jwk(const json_t *jwk, const char *dir)
{
	char		x[KR_COORD_LEN + 1], y[KR_COORD_LEN + 1];
	const char	*kid = js_get_str(jwk, "kid");

	UT_EQ_INT(json_object_size(jwk), 7);
	UT_EQ_STR(js_get_str(jwk, "kty"), "EC");
	UT_EQ_STR(js_get_str(jwk, "crv"), "P-256");
	UT_EQ_STR(js_get_str(jwk, "use"), "sig");
	UT_EQ_STR(js_get_str(jwk, "alg"), "ES256");
	UT_CHECK(json_object_get(jwk, "d") == NULL);
	if (kid == NULL)
		return;
	coords(file(dir, kid, ".pem"), x, y);
	UT_EQ_INT(strlen(x), KR_COORD_LEN);
	UT_EQ_STR(js_get_str(jwk, "x"), x);
	UT_EQ_STR(js_get_str(jwk, "y"), y);
}

static void
test_jwks(void)
{
	struct kr_ring	 ring;
	json_t		*jwks, *keys;
	const char	*dir = sub("states");
	size_t		 i;

	UT_EQ_INT(kr_load_at(dir, T0 + 100, &ring), 0);
	jwks = kr_jwks(&ring, T0 + 500);
	UT_EQ_INT(json_object_size(jwks), 1);
	keys = json_object_get(jwks, "keys");
	UT_EQ_INT(json_array_size(keys), 2);
	for (i = 0; i < json_array_size(keys); i++)
		check_jwk(json_array_get(keys, i), dir);
	UT_EQ_STR(js_get_str(json_array_get(keys, 0), "kid"),
	    ring.keys[0].kid);
	json_decref(jwks);

	/* After A retires only B is published. */
	jwks = kr_jwks(&ring, T0 + 1961);
	keys = json_object_get(jwks, "keys");
	UT_EQ_INT(json_array_size(keys), 1);
	UT_EQ_STR(js_get_str(json_array_get(keys, 0), "kid"),
	    ring.keys[1].kid);
	json_decref(jwks);
	kr_free(&ring);
}

/* A retired at T0+1961; its PEM goes once retired for more than a day. */
static void
test_prune(void)
{
	struct kr_ring	ring;
	const char	*dir = sub("states");
	char		a[KR_KID_MAX + 1], b[KR_KID_MAX + 1];
	int64_t		day_after = T0 + 1000 + KR_RETIRE_AFTER + KR_PRUNE_AFTER;

	UT_EQ_INT(kr_load_at(dir, T0, &ring), 0);
	(void)snprintf(a, sizeof(a), "%s", ring.keys[0].kid);
	(void)snprintf(b, sizeof(b), "%s", ring.keys[1].kid);
	kr_free(&ring);

	UT_EQ_INT(kr_rotate_at(dir, day_after, 0), 0);
	UT_EQ_INT(access(file(dir, a, ".pem"), F_OK), 0);
	UT_CHECK(strstr(slurp(file(dir, "keyring.json", "")), a) != NULL);

	UT_EQ_INT(kr_rotate_at(dir, day_after + 1, 0), 0);
	UT_EQ_INT(access(file(dir, a, ".pem"), F_OK), -1);
	UT_CHECK(strstr(slurp(file(dir, "keyring.json", "")), a) == NULL);
	UT_EQ_INT(access(file(dir, b, ".pem"), F_OK), 0);

	UT_EQ_INT(kr_load_at(dir, day_after + 1, &ring), 0);
	UT_EQ_INT(ring.nkeys, 3);
	UT_CHECK(kr_find(&ring, a) == NULL);
	UT_CHECK(kr_find(&ring, b) != NULL);
	kr_free(&ring);
	UT_EQ_INT(count(dir, "", ".pem"), 3);
	UT_EQ_INT(count(dir, ".tmp.", ""), 0);
}

static void
test_reload(void)
{
	struct kr_ring	 ring;
	const char	*dir = sub("reload");
	char		 good[8192];

	UT_EQ_INT(kr_init_if_empty(dir), 1);
	UT_EQ_INT(kr_load(dir, &ring), 0);
	UT_EQ_INT(kr_reload_if_changed(&ring), 0);
	UT_EQ_INT(kr_rotate(dir, 900), 0);
	UT_EQ_INT(kr_reload_if_changed(&ring), 1);
	UT_EQ_INT(ring.nkeys, 2);
	UT_EQ_INT(kr_reload_if_changed(&ring), 0);

	/* A broken index: one failure, the old ring kept, then quiet. */
	(void)snprintf(good, sizeof(good), "%s",
	    slurp(file(dir, "keyring.json", "")));
	put(file(dir, "new", ""), "[{\"kid\":", 0600);
	UT_EQ_INT(rename(file(dir, "new", ""), file(dir, "keyring.json", "")),
	    0);
	UT_EQ_INT(kr_reload_if_changed(&ring), -1);
	UT_EQ_INT(ring.nkeys, 2);
	UT_EQ_INT(kr_reload_if_changed(&ring), 0);

	put(file(dir, "new", ""), good, 0600);
	UT_EQ_INT(rename(file(dir, "new", ""), file(dir, "keyring.json", "")),
	    0);
	UT_EQ_INT(kr_reload_if_changed(&ring), 1);
	UT_EQ_INT(ring.nkeys, 2);
	kr_free(&ring);
}

static int
loads(const char *dir)
{
	struct kr_ring	ring;

	if (kr_load(dir, &ring) == -1)
		return (0);
	kr_free(&ring);
	return (1);
}

/* Writes a key of another kind as dir/kid.pem (P-384, or encrypted). */
static void
odd_pem(const char *path, const char *curve, int encrypt)
{
	EVP_PKEY	*pk;
	FILE		*fp;

	pk = EVP_PKEY_Q_keygen(NULL, NULL, "EC", curve);
	if ((fp = fopen(path, "w")) == NULL || pk == NULL)
		crm_fatal("odd_pem");
	PEM_write_PrivateKey(fp, pk, encrypt ? EVP_aes_128_cbc() : NULL,
	    encrypt ? (unsigned char *)(uintptr_t)"secret" : NULL,
	    encrypt ? 6 : 0, NULL, NULL);
	fclose(fp);
	chmod(path, 0600);
	EVP_PKEY_free(pk);
}

/*
 * Directories we must not sign from: a key file others can read, a
 * missing PEM, an index with a bad entry (one per line of bad[]), a PEM
 * of the wrong curve or encrypted.  A table, hence the length.
 */
static void
test_refuse(void)
{
	static const char *const	bad[] = {
		"{}",
		"[]",
		"[{\"kid\":\"../x\",\"alg\":\"ES256\",\"created_at\":1,"
		    "\"activate_at\":1}]",
		"[{\"kid\":\"KID\",\"alg\":\"HS256\",\"created_at\":1,"
		    "\"activate_at\":1}]",
		"[{\"kid\":\"KID\",\"alg\":\"ES256\",\"created_at\":1,"
		    "\"activate_at\":\"1\"}]",
		"[{\"kid\":\"KID\",\"alg\":\"ES256\",\"created_at\":1,"
		    "\"activate_at\":1.5}]",
		"[{\"kid\":\"KID\",\"alg\":\"ES256\",\"created_at\":1,"
		    "\"activate_at\":-1}]",
		"[{\"kid\":\"KID\",\"kid\":\"KID\",\"alg\":\"ES256\","
		    "\"created_at\":1,\"activate_at\":1}]",
		"[{\"kid\":\"KID\",\"alg\":\"ES256\",\"created_at\":1,"
		    "\"activate_at\":1},{\"kid\":\"KID\",\"alg\":\"ES256\","
		    "\"created_at\":2,\"activate_at\":2}]",
		"[{\"kid\":\"GONE\",\"alg\":\"ES256\",\"created_at\":1,"
		    "\"activate_at\":1}]",
	};
	struct kr_ring	 ring;
	const char	*dir = sub("refuse");
	char		 good[8192], pem[600];
	size_t		 i;

	UT_EQ_INT(kr_init_if_empty(dir), 1);
	UT_EQ_INT(kr_load(dir, &ring), 0);
	(void)snprintf(pem, sizeof(pem), "%s",
	    file(dir, ring.keys[0].kid, ".pem"));
	kr_free(&ring);
	(void)snprintf(good, sizeof(good), "%s",
	    slurp(file(dir, "keyring.json", "")));

	/* A private key others can read is not ours alone any more. */
	chmod(pem, 0640);
	UT_CHECK(!loads(dir));
	UT_CHECK(strstr(kr_error(), "0600") != NULL);
	chmod(pem, 0600);
	UT_CHECK(loads(dir));

	/* A PEM that is a directory, or missing. */
	UT_EQ_INT(rename(pem, file(dir, "moved", "")), 0);
	UT_CHECK(!loads(dir));
	UT_EQ_INT(rename(file(dir, "moved", ""), pem), 0);

	odd_pem(file(dir, "KID", ".pem"), "P-384", 0);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		put(file(dir, "keyring.json", ""), bad[i], 0600);
		UT_CHECK(!loads(dir));
		if (getenv("KR_DEBUG") != NULL)
			fprintf(stderr, "%s\n", kr_error());
	}
	/* Well-formed entry, wrong curve; then an encrypted P-256 key. */
	put(file(dir, "keyring.json", ""), "[{\"kid\":\"KID\",\"alg\":"
	    "\"ES256\",\"created_at\":1,\"activate_at\":1}]", 0600);
	UT_CHECK(!loads(dir));
	odd_pem(file(dir, "KID", ".pem"), "P-256", 1);
	UT_CHECK(!loads(dir));
	odd_pem(file(dir, "KID", ".pem"), "P-256", 0);
	UT_CHECK(loads(dir));

	put(file(dir, "keyring.json", ""), good, 0600);
	UT_CHECK(loads(dir));
	UT_CHECK(!loads(sub("nonexistent")));
}

/* Workers starting together must make one key between them. */
static void
test_concurrent_init(void)
{
	struct kr_ring	 ring;
	const char	*dir = sub("race");
	pid_t		 pid[4];
	int		 i, status, made = 0;

	for (i = 0; i < 4; i++) {
		if ((pid[i] = fork()) == 0)
			_exit(kr_init_if_empty(dir) == 1 ? 1 : 0);
	}
	for (i = 0; i < 4; i++) {
		waitpid(pid[i], &status, 0);
		made += WIFEXITED(status) && WEXITSTATUS(status) == 1;
	}
	UT_EQ_INT(made, 1);
	UT_EQ_INT(count(dir, "", ".pem"), 1);
	UT_EQ_INT(kr_load(dir, &ring), 0);
	UT_EQ_INT(ring.nkeys, 1);
	kr_free(&ring);
}

int
main(void)
{
	if (mkdtemp(root) == NULL)
		crm_fatal("mkdtemp");
	UT_TEST(test_kid_ok);
	UT_TEST(test_init);
	UT_TEST(test_states);
	UT_TEST(test_tie);
	UT_TEST(test_jwks);
	UT_TEST(test_prune);
	UT_TEST(test_reload);
	UT_TEST(test_refuse);
	UT_TEST(test_concurrent_init);
	(void)nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return (ut_summary());
}
