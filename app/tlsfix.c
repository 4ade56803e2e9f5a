/*
 * tlsfix.c: makes Kore 4.1.0's built-in TLS work with OpenSSL 3.0.
 *
 * Kore keeps private keys in its key manager process; a worker signs a
 * handshake by forwarding the digest there through an RSA_METHOD or
 * EC_KEY_METHOD hook.  With OpenSSL 3.0 that never works, for three reasons
 * in Kore 4.1.0 itself:
 *
 *  1. domain.c installs the hook on a throwaway legacy copy of the
 *     certificate's public key (EVP_PKEY_get1_RSA/EC_KEY on a provider
 *     key), so the key in the SSL_CTX is a provider key with no private
 *     part and no hook: every handshake fails.
 *  2. Its EC_KEY_METHOD has no `sign` entry, only `sign_sig`, so ECDSA_sign()
 *     fails even on a legacy key that carries the hook.
 *  3. The key manager uses EVP_PKEY_get0(), which returns NULL for provider
 *     keys as PEM_read_PrivateKey() loads them (RSA: it crashes; EC: it never
 *     replies).  That one is worked around outside this file: genconf.sh
 *     hands Kore a copy of the key in traditional format with a lowercase
 *     PEM label, which only the legacy decoder reads, so the key manager
 *     gets a legacy key.
 *
 * Here, in each worker: an SSL ex_data index whose new-object callback runs
 * inside every SSL_new(), i.e. before any handshake (Kore sets up its
 * SSL_CTXs lazily, after the worker is configured, so there is no earlier
 * hook).  For each domain's SSL_CTX not fixed yet it takes the hooked
 * RSA/EC_KEY object, for EC gives it a method with OpenSSL's default sign and
 * sign_setup around Kore's sign_sig, wraps it in a fresh EVP_PKEY (a key
 * with a non-default method stays legacy, so the hook is called) and installs
 * that as the SSL_CTX's private key; the connection being created gets it
 * too.
 *
 * Without TLS there is no SSL_CTX and nothing happens.  Once Kore fixes
 * this, the key in the SSL_CTX no longer carries a hooked legacy object
 * (or the method is already complete) and every step below is a no-op.
 */

/* RSA_get_method, EC_KEY_METHOD_*: deprecated in 3.0, still needed here. */
#define OPENSSL_API_COMPAT	0x10100000L

#include <openssl/ssl.h>
#include <openssl/rsa.h>
#include <openssl/ec.h>
#include <openssl/err.h>

#include "srv.h"

static void	tlsfix_ctx(SSL_CTX *);
static EVP_PKEY	*tlsfix_rsa(EVP_PKEY *);
static EVP_PKEY	*tlsfix_ec(EVP_PKEY *);
static void	tlsfix_ssl_new(void *, void *, CRYPTO_EX_DATA *, int, long,
		    void *);

static int		tlsfix_ctx_idx = -1;
static int		tlsfix_ssl_idx = -1;
static EC_KEY_METHOD	*tlsfix_ec_meth = NULL;

void
tlsfix_worker_init(void)
{
	struct kore_server	*srv;
	int			tls;

	tls = 0;
	LIST_FOREACH(srv, &kore_servers, list) {
		if (srv->tls)
			tls = 1;
	}
	if (!tls || tlsfix_ssl_idx != -1)
		return;

	tlsfix_ctx_idx = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, NULL);
	tlsfix_ssl_idx = SSL_get_ex_new_index(0, NULL, tlsfix_ssl_new,
	    NULL, NULL);
	if (tlsfix_ctx_idx == -1 || tlsfix_ssl_idx == -1)
		kore_log(LOG_ERR, "tlsfix: no ex_data index: %s", ssl_errno_s);
}

/* Runs inside SSL_new(), before every handshake. */
static void
tlsfix_ssl_new(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx,
    long argl, void *argp)
{
	SSL			*ssl = parent;
	SSL_CTX			*ctx;
	EVP_PKEY		*pk, *cur;
	struct kore_server	*srv;
	struct kore_domain	*dom;

	if (tlsfix_ctx_idx == -1)
		return;

	LIST_FOREACH(srv, &kore_servers, list) {
		if (!srv->tls)
			continue;
		TAILQ_FOREACH(dom, &srv->domains, list)
			tlsfix_ctx(dom->ssl_ctx);
	}

	/* SSL_new() may already have copied the ctx's old key. */
	if (ssl == NULL || (ctx = SSL_get_SSL_CTX(ssl)) == NULL)
		return;
	pk = SSL_CTX_get0_privatekey(ctx);
	cur = SSL_get_privatekey(ssl);
	if (pk != NULL && cur != NULL && cur != pk) {
		if (!SSL_use_PrivateKey(ssl, pk)) {
			kore_log(LOG_ERR, "tlsfix: SSL_use_PrivateKey: %s",
			    ssl_errno_s);
		}
	}
}

static void
tlsfix_ctx(SSL_CTX *ctx)
{
	EVP_PKEY	*pk, *np;

	if (ctx == NULL || SSL_CTX_get_ex_data(ctx, tlsfix_ctx_idx) != NULL)
		return;
	if ((pk = SSL_CTX_get0_privatekey(ctx)) == NULL)
		return;

	switch (EVP_PKEY_get_base_id(pk)) {
	case EVP_PKEY_RSA:
		np = tlsfix_rsa(pk);
		break;
	case EVP_PKEY_EC:
		np = tlsfix_ec(pk);
		break;
	default:
		np = NULL;
		break;
	}

	if (np != NULL) {
		if (!SSL_CTX_use_PrivateKey(ctx, np)) {
			kore_log(LOG_ERR, "tlsfix: SSL_CTX_use_PrivateKey: %s",
			    ssl_errno_s);
		}
		EVP_PKEY_free(np);
	}

	SSL_CTX_set_ex_data(ctx, tlsfix_ctx_idx, (void *)1);
}

/*
 * The legacy RSA object Kore hooked is cached on the provider key; get1
 * returns that same object.  NULL when there is nothing to fix.
 */
static EVP_PKEY *
tlsfix_rsa(EVP_PKEY *pk)
{
	EVP_PKEY	*np;
	RSA		*rsa;

	if ((rsa = EVP_PKEY_get1_RSA(pk)) == NULL) {
		ERR_clear_error();
		return (NULL);
	}

	np = NULL;
	if (RSA_get_method(rsa) != RSA_PKCS1_OpenSSL() &&
	    (np = EVP_PKEY_new()) != NULL && !EVP_PKEY_set1_RSA(np, rsa)) {
		EVP_PKEY_free(np);
		np = NULL;
	}

	RSA_free(rsa);
	return (np);
}

/*
 * As tlsfix_rsa(), and Kore's EC_KEY_METHOD only has sign_sig: ECDSA_sign()
 * needs sign, so give it OpenSSL's, which calls sign_sig.
 */
static EVP_PKEY *
tlsfix_ec(EVP_PKEY *pk)
{
	EVP_PKEY		*np;
	EC_KEY			*ec;
	const EC_KEY_METHOD	*km;
	int			(*sign)(int, const unsigned char *, int,
				    unsigned char *, unsigned int *,
				    const BIGNUM *, const BIGNUM *, EC_KEY *);
	int			(*setup)(EC_KEY *, BN_CTX *, BIGNUM **,
				    BIGNUM **);
	ECDSA_SIG		*(*sign_sig)(const unsigned char *, int,
				    const BIGNUM *, const BIGNUM *, EC_KEY *);

	if ((ec = EVP_PKEY_get1_EC_KEY(pk)) == NULL) {
		ERR_clear_error();
		return (NULL);
	}

	np = NULL;
	km = EC_KEY_get_method(ec);
	if (km == NULL || km == EC_KEY_OpenSSL())
		goto out;

	if (km != tlsfix_ec_meth) {
		sign_sig = NULL;
		EC_KEY_METHOD_get_sign(km, &sign, NULL, &sign_sig);
		if (sign == NULL) {
			if (tlsfix_ec_meth == NULL && (tlsfix_ec_meth =
			    EC_KEY_METHOD_new(EC_KEY_OpenSSL())) == NULL)
				goto out;
			EC_KEY_METHOD_get_sign(EC_KEY_OpenSSL(),
			    &sign, &setup, NULL);
			EC_KEY_METHOD_set_sign(tlsfix_ec_meth,
			    sign, setup, sign_sig);
			if (!EC_KEY_set_method(ec, tlsfix_ec_meth))
				goto out;
		}
	}

	if ((np = EVP_PKEY_new()) != NULL && !EVP_PKEY_set1_EC_KEY(np, ec)) {
		EVP_PKEY_free(np);
		np = NULL;
	}

out:
	EC_KEY_free(ec);
	return (np);
}
