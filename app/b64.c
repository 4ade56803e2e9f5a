/*
 * b64.c: base64url (RFC 4648 section 5) without padding, as used by JWTs,
 * API keys, cursors and opaque tokens.
 *
 * Decoding is strict: no padding, no whitespace, no '+' or '/', and the
 * unused low bits of the last character must be zero, so every byte
 * string has exactly one encoding and tokens can be compared as text.
 *
 * Left to others: what the bytes mean (auth, cursors).
 */

#include <sys/types.h>

#include <limits.h>
#include <stdint.h>

#include "crm.h"

static const char	b64url_alpha[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Value of each character, or -1. */
static int
b64url_val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return (c - 'A');
	if (c >= 'a' && c <= 'z')
		return (c - 'a' + 26);
	if (c >= '0' && c <= '9')
		return (c - '0' + 52);
	if (c == '-')
		return (62);
	if (c == '_')
		return (63);
	return (-1);
}

/*
 * Writes the encoding of in and a NUL to out.  Returns the length written
 * without the NUL, or 0 when out is too small (or in is empty).
 */
size_t
b64url_encode(const void *in, size_t len, char *out, size_t outlen)
{
	const uint8_t	*p = in;
	size_t		 need, i, o = 0;
	uint32_t	 v;

	if (len > (SIZE_MAX - 8) / 4 * 3)
		return (0);
	need = len / 3 * 4 + (len % 3 == 0 ? 0 : len % 3 + 1);
	if (outlen == 0 || need > outlen - 1)
		return (0);

	for (i = 0; i + 2 < len; i += 3) {
		v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		out[o++] = b64url_alpha[(v >> 18) & 0x3f];
		out[o++] = b64url_alpha[(v >> 12) & 0x3f];
		out[o++] = b64url_alpha[(v >> 6) & 0x3f];
		out[o++] = b64url_alpha[v & 0x3f];
	}
	if (len - i == 1) {
		v = (uint32_t)p[i] << 16;
		out[o++] = b64url_alpha[(v >> 18) & 0x3f];
		out[o++] = b64url_alpha[(v >> 12) & 0x3f];
	} else if (len - i == 2) {
		v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
		out[o++] = b64url_alpha[(v >> 18) & 0x3f];
		out[o++] = b64url_alpha[(v >> 12) & 0x3f];
		out[o++] = b64url_alpha[(v >> 6) & 0x3f];
	}
	out[o] = '\0';
	return (o);
}

/*
 * Decodes len characters of in into out.  Returns the number of bytes
 * written, or -1 on any bad character, an impossible length, non-zero
 * trailing bits or an out buffer too small for the result.
 */
ssize_t
b64url_decode(const char *in, size_t len, void *out, size_t outlen)
{
	uint8_t		*q = out;
	size_t		 need, i, o = 0, rem = len % 4;
	uint32_t	 v = 0;
	int		 c, n = 0;

	if (rem == 1 || len / 4 * 3 > SSIZE_MAX - 2)
		return (-1);
	need = len / 4 * 3 + (rem == 0 ? 0 : rem - 1);
	if (need > outlen)
		return (-1);

	for (i = 0; i < len; i++) {
		if ((c = b64url_val((unsigned char)in[i])) == -1)
			return (-1);
		v = v << 6 | (uint32_t)c;
		if (++n == 4) {
			q[o++] = (uint8_t)(v >> 16);
			q[o++] = (uint8_t)(v >> 8);
			q[o++] = (uint8_t)v;
			v = 0;
			n = 0;
		}
	}
	if (n == 2) {
		if (v & 0x0f)
			return (-1);
		q[o++] = (uint8_t)(v >> 4);
	} else if (n == 3) {
		if (v & 0x03)
			return (-1);
		q[o++] = (uint8_t)(v >> 10);
		q[o++] = (uint8_t)(v >> 2);
	}
	return ((ssize_t)o);
}
