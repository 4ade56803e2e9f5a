/*
 * jobseal.c: webhook signing secrets.
 *
 * A secret ("whsec_" + 32 random bytes in base64url) is shown to the
 * tenant once, at creation; the database keeps it sealed with AES-256-GCM
 * under a key file in CRM_KEYS_DIR (webhook-secret.key, 64 hex digits,
 * mode 600), so a database dump alone cannot forge our signatures.  The
 * worker opens it just before signing and wipes it after.  Layout of a
 * sealed secret: nonce (12) | ciphertext | tag (16).
 *
 * Signature (API.md): hex HMAC-SHA256(secret, timestamp + "." + body),
 * sent as "Crm-Signature: v1=<hex>".
 */

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/params.h>

#include "job.h"

#define JSEAL_FILE	"webhook-secret.key"
#define JSEAL_NONCE	12
#define JSEAL_TAG	16

static int
jseal_read_key(const char *path, uint8_t key[JSEAL_KEY_LEN])
{
	char		hex[JSEAL_KEY_LEN * 2 + 2];
	ssize_t		n;
	int		fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return (-1);
	n = read(fd, hex, sizeof(hex) - 1);
	(void)close(fd);
	if (n < JSEAL_KEY_LEN * 2)
		return (-2);
	hex[JSEAL_KEY_LEN * 2] = '\0';
	n = crm_unhex(hex, key, JSEAL_KEY_LEN);
	explicit_bzero(hex, sizeof(hex));
	return (n == 0 ? 0 : -2);
}

/*
 * Loads the key from dir; with create, makes it first when missing (two
 * processes racing both end up with the one that won O_EXCL).
 */
int
jseal_key_load(const char *dir, uint8_t key[JSEAL_KEY_LEN], int create)
{
	char		path[1024], hex[JSEAL_KEY_LEN * 2 + 2];
	uint8_t		raw[JSEAL_KEY_LEN];
	int		fd, rc, i;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, JSEAL_FILE) >=
	    sizeof(path))
		return (-1);
	for (i = 0; i < 50; i++) {
		if ((rc = jseal_read_key(path, key)) == 0)
			return (0);
		if (rc == -2 && i > 0) {	/* being written: wait */
			usleep(10000);
			continue;
		}
		if (rc == -2 || !create || errno != ENOENT)
			return (-1);
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd == -1) {
			if (errno == EEXIST)
				continue;
			return (-1);
		}
		if (crm_random(raw, sizeof(raw)) == -1) {
			(void)close(fd);
			return (-1);
		}
		crm_hex(raw, sizeof(raw), hex);
		explicit_bzero(raw, sizeof(raw));
		hex[JSEAL_KEY_LEN * 2] = '\n';
		rc = write(fd, hex, JSEAL_KEY_LEN * 2 + 1) ==
		    JSEAL_KEY_LEN * 2 + 1 && fsync(fd) == 0 ? 0 : -1;
		explicit_bzero(hex, sizeof(hex));
		(void)close(fd);
		if (rc == -1)
			return (-1);
	}
	return (-1);
}

void
jseal_secret_new(char out[JSEAL_SECRET_LEN + 1])
{
	uint8_t		raw[32];

	if (crm_random(raw, sizeof(raw)) == -1)
		crm_fatal("jseal_secret_new: no randomness");
	memcpy(out, "whsec_", 6);
	(void)b64url_encode(raw, sizeof(raw), out + 6, JSEAL_SECRET_LEN - 5);
	out[JSEAL_SECRET_LEN] = '\0';
	explicit_bzero(raw, sizeof(raw));
}

/* out must hold strlen(secret) + JSEAL_OVERHEAD bytes. */
int
jseal_seal(const uint8_t *key, const char *secret, uint8_t *out,
    size_t *outlen)
{
	EVP_CIPHER_CTX	*c;
	int		 len, fin, ok;
	size_t		 n = strlen(secret);

	if (crm_random(out, JSEAL_NONCE) == -1 ||
	    (c = EVP_CIPHER_CTX_new()) == NULL)
		return (-1);
	ok = EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, key, out) == 1 &&
	    EVP_EncryptUpdate(c, out + JSEAL_NONCE, &len,
	    (const uint8_t *)secret, (int)n) == 1 &&
	    EVP_EncryptFinal_ex(c, out + JSEAL_NONCE + len, &fin) == 1 &&
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, JSEAL_TAG,
	    out + JSEAL_NONCE + len + fin) == 1;
	EVP_CIPHER_CTX_free(c);
	if (!ok)
		return (-1);
	*outlen = JSEAL_NONCE + (size_t)len + (size_t)fin + JSEAL_TAG;
	return (0);
}

/* Opens a sealed secret into out (NUL-terminated); -1 if it was altered. */
int
jseal_open(const uint8_t *key, const uint8_t *in, size_t inlen, char *out,
    size_t outsz)
{
	EVP_CIPHER_CTX	*c;
	size_t		 n;
	int		 len, fin, ok;

	if (inlen < JSEAL_OVERHEAD || inlen - JSEAL_OVERHEAD >= outsz)
		return (-1);
	n = inlen - JSEAL_OVERHEAD;
	if ((c = EVP_CIPHER_CTX_new()) == NULL)
		return (-1);
	ok = EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), NULL, key, in) == 1 &&
	    EVP_DecryptUpdate(c, (uint8_t *)out, &len, in + JSEAL_NONCE,
	    (int)n) == 1 &&
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, JSEAL_TAG,
	    (void *)(uintptr_t)(in + JSEAL_NONCE + n)) == 1 &&
	    EVP_DecryptFinal_ex(c, (uint8_t *)out + len, &fin) == 1;
	EVP_CIPHER_CTX_free(c);
	if (!ok) {
		explicit_bzero(out, outsz);
		return (-1);
	}
	out[len + fin] = '\0';
	return (0);
}

void
jseal_sign(const char *secret, const char *ts, const void *body,
    size_t len, char hex[65])
{
	EVP_MAC		*mac;
	EVP_MAC_CTX	*h = NULL;
	OSSL_PARAM	 params[2];
	uint8_t		 out[32];
	size_t		 outlen = 0;
	int		 ok;

	params[0] = OSSL_PARAM_construct_utf8_string("digest",
	    (char *)(uintptr_t)"SHA256", 0);
	params[1] = OSSL_PARAM_construct_end();
	ok = (mac = EVP_MAC_fetch(NULL, "HMAC", NULL)) != NULL &&
	    (h = EVP_MAC_CTX_new(mac)) != NULL &&
	    EVP_MAC_init(h, (const uint8_t *)secret, strlen(secret),
	    params) == 1 &&
	    EVP_MAC_update(h, (const uint8_t *)ts, strlen(ts)) == 1 &&
	    EVP_MAC_update(h, (const uint8_t *)".", 1) == 1 &&
	    EVP_MAC_update(h, body, len) == 1 &&
	    EVP_MAC_final(h, out, &outlen, sizeof(out)) == 1 &&
	    outlen == sizeof(out);
	EVP_MAC_CTX_free(h);
	EVP_MAC_free(mac);
	if (!ok)
		crm_fatal("jseal_sign: HMAC failed");
	crm_hex(out, sizeof(out), hex);
}
