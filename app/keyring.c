/*
 * keyring.c: the ES256 signing keys, on disk and in memory.
 *
 * Owns the keys directory (crm_conf.keys_dir): one <kid>.pem per key
 * (PKCS#8 P-256 private key, mode 0600) and keyring.json, the index
 * [{kid, alg, created_at, activate_at}].  Every write is tmp + fsync +
 * rename + fsync of the directory, under an flock on .lock, so a reader
 * sees the old index or the new one and never an index naming a PEM that
 * is not there yet (the PEM is written first).
 *
 * The state of a key is a function of the index and the time alone (see
 * auth.h): nothing is stored as "active", so every process agrees on which
 * key signs without talking to the others, and a process that has not
 * reloaded still moves keys through their states on time.
 *
 * Left to others: signing and verifying tokens (tok.c), when to reload
 * (the caller of kr_reload_if_changed), the operator command (crmctl).
 */

#include <sys/types.h>
#include <sys/file.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "auth.h"

#define KR_INDEX		"keyring.json"
#define KR_LOCK			".lock"
#define KR_INDEX_MAX		(1024 * 1024)
#define KR_PEM_MAX		(16 * 1024)
#define KR_TIME_MAX		((int64_t)1 << 40)	/* year 36812 */

static char	kr_errbuf[256];

static void	kr_seterr(const char *, ...)
		    __attribute__((format(printf, 1, 2)));

static void
kr_seterr(const char *fmt, ...)
{
	va_list		args;

	va_start(args, fmt);
	(void)vsnprintf(kr_errbuf, sizeof(kr_errbuf), fmt, args);
	va_end(args);
}

const char *
kr_error(void)
{
	return (kr_errbuf);
}

int
kr_kid_ok(const char *kid)
{
	size_t		i;
	char		c;

	for (i = 0; kid[i] != '\0'; i++) {
		if (i >= KR_KID_MAX)
			return (0);
		c = kid[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '_'))
			return (0);
	}
	return (i > 0);
}

/* "More than" KR_RETIRE_AFTER: a token may still be alive at exactly it. */
enum kr_state
kr_state(const struct kr_key *k, int64_t now)
{
	if (now < k->activate_at)
		return (KR_PENDING);
	if (now < k->superseded_at)
		return (KR_ACTIVE);
	if (now - k->superseded_at <= KR_RETIRE_AFTER)
		return (KR_VERIFY);
	return (KR_RETIRED);
}

const struct kr_key *
kr_active(const struct kr_ring *ring, int64_t now)
{
	size_t		i;

	for (i = 0; i < ring->nkeys; i++) {
		if (kr_state(&ring->keys[i], now) == KR_ACTIVE)
			return (&ring->keys[i]);
	}
	return (NULL);
}

const struct kr_key *
kr_find(const struct kr_ring *ring, const char *kid)
{
	size_t		i;

	for (i = 0; i < ring->nkeys; i++) {
		if (strcmp(ring->keys[i].kid, kid) == 0)
			return (&ring->keys[i]);
	}
	return (NULL);
}

static void
kr_key_clear(struct kr_key *k)
{
	if (k->priv_pem != NULL) {
		explicit_bzero(k->priv_pem, k->priv_len);
		xfree(k->priv_pem);
	}
	xfree(k->pub_pem);
	k->priv_pem = k->pub_pem = NULL;
	k->priv_len = k->pub_len = 0;
}

void
kr_free(struct kr_ring *ring)
{
	size_t		i;

	for (i = 0; i < ring->nkeys; i++)
		kr_key_clear(&ring->keys[i]);
	xfree(ring->keys);
	xfree(ring->dir);
	memset(ring, 0, sizeof(*ring));
}

/* Files. */

static void
kr_path(struct buf *b, const char *dir, const char *name, const char *ext)
{
	buf_reset(b);
	buf_appendf(b, "%s/%s%s", dir, name, ext);
}

/*
 * Reads a whole file of at most max bytes.  A private key must be a
 * regular file nobody but its owner can read or write: we refuse to sign
 * with a key that another account may have copied or replaced.
 */
static int
kr_read(const char *path, size_t max, int secret, struct buf *out,
    struct stat *stp)
{
	struct stat	st;
	char		chunk[4096];
	ssize_t		n;
	int		fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		kr_seterr("%s: %s", path, strerror(errno));
		return (-1);
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
	    (secret && (st.st_mode & 077) != 0)) {
		kr_seterr("%s: not a regular file%s", path,
		    secret ? " of mode 0600" : "");
		goto fail;
	}
	buf_reset(out);
	while ((n = read(fd, chunk, sizeof(chunk))) != 0) {
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 || out->len + (size_t)n > max) {
			kr_seterr("%s: %s", path, n == -1 ?
			    strerror(errno) : "too large");
			goto fail;
		}
		buf_append(out, chunk, (size_t)n);
	}
	explicit_bzero(chunk, sizeof(chunk));
	close(fd);
	if (stp != NULL)
		*stp = st;
	return (0);
fail:
	explicit_bzero(chunk, sizeof(chunk));
	close(fd);
	return (-1);
}

static int
kr_write_all(int fd, const void *data, size_t len)
{
	const char	*p = data;
	ssize_t		 n;

	while (len > 0) {
		if ((n = write(fd, p, len)) == -1) {
			if (errno == EINTR)
				continue;
			return (-1);
		}
		p += n;
		len -= (size_t)n;
	}
	return (0);
}

static int
kr_fsync_dir(const char *dir)
{
	int		fd, rc;

	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return (-1);
	rc = fsync(fd);
	close(fd);
	return (rc);
}

/* Replaces dir/name with data, mode 0600, or leaves it as it was. */
static int
kr_write_atomic(const char *dir, const char *name, const void *data,
    size_t len)
{
	struct buf	tmp = { 0 }, dst = { 0 };
	int		fd, rc = -1;

	kr_path(&tmp, dir, ".tmp.", "XXXXXX");
	kr_path(&dst, dir, name, "");
	if ((fd = mkstemp(tmp.data)) == -1) {
		kr_seterr("%s: %s", tmp.data, strerror(errno));
		goto out;
	}
	if (fchmod(fd, 0600) == -1 || kr_write_all(fd, data, len) == -1 ||
	    fsync(fd) == -1) {
		kr_seterr("%s: %s", tmp.data, strerror(errno));
		close(fd);
		(void)unlink(tmp.data);
		goto out;
	}
	close(fd);
	if (rename(tmp.data, dst.data) == -1 || kr_fsync_dir(dir) == -1) {
		kr_seterr("%s: %s", dst.data, strerror(errno));
		(void)unlink(tmp.data);
		goto out;
	}
	rc = 0;
out:
	buf_free(&tmp);
	buf_free(&dst);
	return (rc);
}

/* mkdir -p; what it creates gets mode 0700. */
static int
kr_mkdirs(const char *dir)
{
	char		*p, *s;
	int		 rc = 0;

	s = xstrdup(dir);
	for (p = s + 1; rc == 0 && *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(s, 0700) == -1 && errno != EEXIST)
			rc = -1;
		*p = '/';
	}
	if (rc == 0 && mkdir(s, 0700) == -1 && errno != EEXIST)
		rc = -1;
	if (rc == -1)
		kr_seterr("mkdir %s: %s", s, strerror(errno));
	xfree(s);
	return (rc);
}

static int
kr_lock(const char *dir)
{
	struct buf	path = { 0 };
	int		fd;

	if (kr_mkdirs(dir) == -1)
		return (-1);
	kr_path(&path, dir, KR_LOCK, "");
	fd = open(path.data, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd == -1 || flock(fd, LOCK_EX) == -1) {
		kr_seterr("%s: %s", path.data, strerror(errno));
		if (fd != -1)
			close(fd);
		fd = -1;
	}
	buf_free(&path);
	return (fd);
}

/* The index. */

static int
kr_time_get(const json_t *o, const char *name, int64_t *out)
{
	json_t		*v;

	v = json_object_get(o, name);
	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    json_integer_value(v) > KR_TIME_MAX)
		return (-1);
	*out = json_integer_value(v);
	return (0);
}

static int
kr_entry(const json_t *o, struct kr_key *k)
{
	const char	*kid, *alg;

	memset(k, 0, sizeof(*k));
	kid = js_get_str(o, "kid");
	alg = js_get_str(o, "alg");
	if (kid == NULL || !kr_kid_ok(kid) || alg == NULL ||
	    strcmp(alg, KR_ALG) != 0 ||
	    kr_time_get(o, "created_at", &k->created_at) == -1 ||
	    kr_time_get(o, "activate_at", &k->activate_at) == -1)
		return (-1);
	(void)snprintf(k->kid, sizeof(k->kid), "%s", kid);
	(void)snprintf(k->alg, sizeof(k->alg), "%s", alg);
	return (0);
}

/*
 * Stable insertion sort by activate_at: keys that activate at the same
 * second keep their order in the file, and the later one wins.  Rings
 * hold a handful of keys (pruning drops old ones).
 */
static void
kr_sort(struct kr_key *keys, size_t n)
{
	struct kr_key	tmp;
	size_t		i, j;

	for (i = 1; i < n; i++) {
		tmp = keys[i];
		for (j = i; j > 0 && keys[j - 1].activate_at > tmp.activate_at;
		    j--)
			keys[j] = keys[j - 1];
		keys[j] = tmp;
	}
	for (i = 0; i < n; i++)
		keys[i].superseded_at = i + 1 < n ?
		    keys[i + 1].activate_at : INT64_MAX;
}

static int
kr_dup(const struct kr_key *keys, size_t n, const char *kid)
{
	size_t		i;

	for (i = 0; i < n; i++) {
		if (strcmp(keys[i].kid, kid) == 0)
			return (1);
	}
	return (0);
}

static void
kr_seen_set(struct kr_seen *seen, const struct stat *st)
{
	seen->dev = st->st_dev;
	seen->ino = st->st_ino;
	seen->size = st->st_size;
	seen->mtime = st->st_mtim;
}

static int
kr_seen_same(const struct kr_seen *seen, const struct stat *st)
{
	return (seen->dev == st->st_dev && seen->ino == st->st_ino &&
	    seen->size == st->st_size &&
	    seen->mtime.tv_sec == st->st_mtim.tv_sec &&
	    seen->mtime.tv_nsec == st->st_mtim.tv_nsec);
}

/* Parses keyring.json into sorted keys (no PEMs); an absent file is empty. */
static int
kr_index_read(const char *dir, struct kr_key **keysp, size_t *np,
    struct kr_seen *seen)
{
	struct buf	 path = { 0 }, data = { 0 };
	struct stat	 st;
	struct js_err	 err;
	json_t		*arr = NULL, *o;
	struct kr_key	*keys = NULL;
	size_t		 i, n = 0;
	int		 rc = -1;

	kr_path(&path, dir, KR_INDEX, "");
	if (access(path.data, F_OK) == -1 && errno == ENOENT) {
		rc = 0;
		goto out;
	}
	if (kr_read(path.data, KR_INDEX_MAX, 0, &data, &st) == -1)
		goto out;
	if ((arr = js_parse(data.data, data.len, &err)) == NULL) {
		kr_seterr("%s: %s", path.data, err.detail);
		goto out;
	}
	if (!json_is_array(arr)) {
		kr_seterr("%s: not a JSON array", path.data);
		goto out;
	}
	n = json_array_size(arr);
	keys = xcalloc(n, sizeof(*keys));
	json_array_foreach(arr, i, o) {
		if (kr_entry(o, &keys[i]) == -1 ||
		    kr_dup(keys, i, keys[i].kid)) {
			kr_seterr("%s: entry %zu is bad or repeats a kid",
			    path.data, i);
			goto out;
		}
	}
	kr_sort(keys, n);
	if (seen != NULL)
		kr_seen_set(seen, &st);
	rc = 0;
out:
	if (rc == 0) {
		*keysp = keys;
		*np = n;
	} else
		xfree(keys);
	json_decref(arr);
	buf_free(&path);
	buf_free(&data);
	return (rc);
}

static int
kr_index_write(const char *dir, const struct kr_key *keys, size_t n)
{
	json_t		*arr;
	char		*text;
	size_t		 i, len;
	int		 rc;

	arr = json_array();
	for (i = 0; i < n; i++) {
		json_array_append_new(arr, json_pack("{s:s, s:s, s:I, s:I}",
		    "kid", keys[i].kid, "alg", keys[i].alg,
		    "created_at", (json_int_t)keys[i].created_at,
		    "activate_at", (json_int_t)keys[i].activate_at));
	}
	text = js_dump(arr, &len);
	json_decref(arr);
	text = xrealloc(text, len + 2);
	text[len++] = '\n';
	text[len] = '\0';
	rc = kr_write_atomic(dir, KR_INDEX, text, len);
	xfree(text);
	return (rc);
}

/* PEMs. */

/* Never prompt on a terminal for an encrypted key: refuse it. */
static int
kr_nopass(char *buf, int size, int rw, void *u)
{
	return (-1);
}

static EVP_PKEY *
kr_pem_parse(const char *pem, size_t len)
{
	EVP_PKEY	*pk;
	BIO		*bio;
	char		 group[32];

	if ((bio = BIO_new_mem_buf(pem, (int)len)) == NULL)
		return (NULL);
	pk = PEM_read_bio_PrivateKey(bio, NULL, kr_nopass, NULL);
	BIO_free(bio);
	if (pk == NULL)
		return (NULL);
	if (!EVP_PKEY_is_a(pk, "EC") ||
	    EVP_PKEY_get_group_name(pk, group, sizeof(group), NULL) != 1 ||
	    strcmp(group, "prime256v1") != 0) {
		EVP_PKEY_free(pk);
		return (NULL);
	}
	return (pk);
}

static int
kr_coord(const EVP_PKEY *pk, const char *param, char out[KR_COORD_LEN + 1])
{
	BIGNUM		*bn = NULL;
	uint8_t		 raw[32];
	int		 rc = -1;

	if (EVP_PKEY_get_bn_param(pk, param, &bn) == 1 &&
	    BN_bn2binpad(bn, raw, sizeof(raw)) == sizeof(raw) &&
	    b64url_encode(raw, sizeof(raw), out, KR_COORD_LEN + 1) ==
	    KR_COORD_LEN)
		rc = 0;
	BN_free(bn);
	return (rc);
}

static char *
kr_pub_pem(EVP_PKEY *pk, size_t *lenp)
{
	BIO		*bio;
	char		*p, *out = NULL;
	long		 len;

	if ((bio = BIO_new(BIO_s_mem())) == NULL)
		return (NULL);
	if (PEM_write_bio_PUBKEY(bio, pk) == 1 &&
	    (len = BIO_get_mem_data(bio, &p)) > 0) {
		out = xstrndup(p, (size_t)len);
		*lenp = (size_t)len;
	}
	BIO_free(bio);
	return (out);
}

/* Loads k's PEM: public half and coordinates, and the private text if keep. */
static int
kr_key_load(const char *dir, struct kr_key *k, int keep)
{
	struct buf	 path = { 0 }, pem = { 0 };
	EVP_PKEY	*pk = NULL;
	int		 rc = -1;

	kr_path(&path, dir, k->kid, ".pem");
	if (kr_read(path.data, KR_PEM_MAX, 1, &pem, NULL) == -1)
		goto out;
	if ((pk = kr_pem_parse(pem.data, pem.len)) == NULL ||
	    kr_coord(pk, OSSL_PKEY_PARAM_EC_PUB_X, k->x) == -1 ||
	    kr_coord(pk, OSSL_PKEY_PARAM_EC_PUB_Y, k->y) == -1 ||
	    (k->pub_pem = kr_pub_pem(pk, &k->pub_len)) == NULL) {
		kr_seterr("%s: not a P-256 private key", path.data);
		goto out;
	}
	if (keep) {
		k->priv_pem = xstrndup(pem.data, pem.len);
		k->priv_len = pem.len;
	}
	rc = 0;
out:
	EVP_PKEY_free(pk);
	if (pem.data != NULL)
		explicit_bzero(pem.data, pem.cap);
	buf_free(&pem);
	buf_free(&path);
	return (rc);
}

/*
 * Loading reads the PEM of every key that is not retired at now, and keeps
 * the private text only of keys that may still sign (active or pending).
 */
int
kr_load_at(const char *dir, int64_t now, struct kr_ring *ring)
{
	struct kr_ring	r;
	size_t		i;
	enum kr_state	st;

	memset(&r, 0, sizeof(r));
	memset(ring, 0, sizeof(*ring));
	r.dir = xstrdup(dir);
	if (kr_index_read(dir, &r.keys, &r.nkeys, &r.seen) == -1)
		goto fail;
	if (r.nkeys == 0) {
		kr_seterr("%s: no keys in %s", dir, KR_INDEX);
		goto fail;
	}
	for (i = 0; i < r.nkeys; i++) {
		if ((st = kr_state(&r.keys[i], now)) == KR_RETIRED)
			continue;
		if (kr_key_load(dir, &r.keys[i],
		    st == KR_ACTIVE || st == KR_PENDING) == -1)
			goto fail;
	}
	*ring = r;
	return (0);
fail:
	kr_free(&r);
	return (-1);
}

int
kr_load(const char *dir, struct kr_ring *ring)
{
	return (kr_load_at(dir, (int64_t)time(NULL), ring));
}

/*
 * Reloads when keyring.json is not the file last seen.  A file that fails
 * to load is remembered too, so a broken index costs one attempt (and one
 * -1 for the caller to log), not one per call; the old ring stays.
 */
int
kr_reload_if_changed(struct kr_ring *ring)
{
	struct kr_ring	 fresh;
	struct buf	 path = { 0 };
	struct stat	 st;
	int		 rc;

	kr_path(&path, ring->dir, KR_INDEX, "");
	if ((rc = stat(path.data, &st)) == -1)
		kr_seterr("%s: %s", path.data, strerror(errno));
	buf_free(&path);
	if (rc == -1)
		return (-1);
	if (kr_seen_same(&ring->seen, &st))
		return (0);
	if (kr_load(ring->dir, &fresh) == -1) {
		kr_seen_set(&ring->seen, &st);
		return (-1);
	}
	kr_free(ring);
	*ring = fresh;
	return (1);
}

/* Rotation. */

/* Writes a new P-256 key as <kid>.pem under a fresh random kid. */
static int
kr_generate(const char *dir, struct kr_key *k, const struct kr_key *keys,
    size_t n)
{
	EVP_PKEY	*pk = NULL;
	BIO		*bio = NULL;
	struct buf	 name = { 0 };
	uint8_t		 raw[12];
	char		*pem;
	long		 len;
	int		 rc = -1;

	do {
		if (crm_random(raw, sizeof(raw)) == -1) {
			kr_seterr("no randomness for a kid");
			return (-1);
		}
		(void)b64url_encode(raw, sizeof(raw), k->kid, sizeof(k->kid));
	} while (kr_dup(keys, n, k->kid));

	if ((pk = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256")) == NULL ||
	    (bio = BIO_new(BIO_s_mem())) == NULL ||
	    PEM_write_bio_PrivateKey(bio, pk, NULL, NULL, 0, NULL,
	    NULL) != 1 || (len = BIO_get_mem_data(bio, &pem)) <= 0) {
		kr_seterr("cannot generate a P-256 key");
		goto out;
	}
	buf_appendf(&name, "%s.pem", k->kid);
	rc = kr_write_atomic(dir, name.data, pem, (size_t)len);
	explicit_bzero(pem, (size_t)len);
out:
	buf_free(&name);
	BIO_free(bio);
	EVP_PKEY_free(pk);
	return (rc);
}

/* Retired for more than KR_PRUNE_AFTER: no token it signed can be alive. */
static int
kr_prunable(const struct kr_key *k, int64_t now)
{
	return (kr_state(k, now) == KR_RETIRED &&
	    now - k->superseded_at - KR_RETIRE_AFTER > KR_PRUNE_AFTER);
}

static void
kr_unlink_pem(const char *dir, const char *kid)
{
	struct buf	path = { 0 };

	kr_path(&path, dir, kid, ".pem");
	(void)unlink(path.data);
	buf_free(&path);
}

/*
 * With the lock held: the new PEM first, then the index that names it
 * (without the prunable keys), then the prunable PEMs.  A crash between
 * steps leaves at worst an unreferenced PEM, never a dangling entry.
 */
static int
kr_rotate_locked(const char *dir, int64_t now, int64_t activate_in)
{
	struct kr_key	*keys, *kept, *k;
	size_t		 n, i, nkept = 0;
	int		 rc = -1;

	if (kr_index_read(dir, &keys, &n, NULL) == -1)
		return (-1);
	kept = xcalloc(n + 1, sizeof(*kept));
	for (i = 0; i < n; i++) {
		if (!kr_prunable(&keys[i], now))
			kept[nkept++] = keys[i];
	}
	k = &kept[nkept];
	k->created_at = now;
	k->activate_at = now + activate_in;
	(void)snprintf(k->alg, sizeof(k->alg), "%s", KR_ALG);
	if (kr_generate(dir, k, keys, n) == -1)
		goto out;
	if (kr_index_write(dir, kept, nkept + 1) == -1) {
		kr_unlink_pem(dir, k->kid);
		goto out;
	}
	for (i = 0; i < n; i++) {
		if (kr_prunable(&keys[i], now))
			kr_unlink_pem(dir, keys[i].kid);
	}
	rc = 0;
out:
	xfree(kept);
	xfree(keys);
	return (rc);
}

int
kr_rotate_at(const char *dir, int64_t now, int64_t activate_in)
{
	int		fd, rc;

	if (now < 0 || now > KR_TIME_MAX || activate_in < 0 ||
	    activate_in > 366 * 86400) {
		kr_seterr("rotate: time or delay out of range");
		return (-1);
	}
	if ((fd = kr_lock(dir)) == -1)
		return (-1);
	rc = kr_rotate_locked(dir, now, activate_in);
	close(fd);
	return (rc);
}

int
kr_rotate(const char *dir, int64_t activate_in)
{
	return (kr_rotate_at(dir, (int64_t)time(NULL), activate_in));
}

/* Under the lock, so workers starting together make one key, not several. */
int
kr_init_if_empty(const char *dir)
{
	struct kr_key	*keys;
	size_t		 n;
	int		 fd, rc;

	if ((fd = kr_lock(dir)) == -1)
		return (-1);
	if ((rc = kr_index_read(dir, &keys, &n, NULL)) == 0) {
		xfree(keys);
		if (n == 0)
			rc = kr_rotate_locked(dir, (int64_t)time(NULL), 0) ==
			    -1 ? -1 : 1;
	}
	close(fd);
	return (rc);
}

/* RFC 7517 / 7518 section 6.2.1: every key that may still verify. */
json_t *
kr_jwks(const struct kr_ring *ring, int64_t now)
{
	const struct kr_key	*k;
	json_t			*keys;
	size_t			 i;

	keys = json_array();
	for (i = 0; i < ring->nkeys; i++) {
		k = &ring->keys[i];
		if (kr_state(k, now) == KR_RETIRED || k->pub_pem == NULL)
			continue;
		json_array_append_new(keys, json_pack(
		    "{s:s, s:s, s:s, s:s, s:s, s:s, s:s}",
		    "kty", "EC", "crv", "P-256", "kid", k->kid, "use", "sig",
		    "alg", k->alg, "x", k->x, "y", k->y));
	}
	return (json_pack("{s:o}", "keys", keys));
}
