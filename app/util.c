/*
 * util.c: memory, time, randomness and growable buffers.
 *
 * The x* allocators never return NULL: running out of memory in a request
 * path has no useful recovery, so they die through crm_fatal() and callers
 * never check.  A struct buf owns its bytes and keeps them NUL-terminated
 * after every operation, so buf_cstr() is only a view; a zeroed struct buf
 * is a valid empty buffer (requests are xcalloc'd).
 *
 * Left to others: JSON (js.c), logging (log.c).
 */

#include <sys/types.h>

#include <errno.h>
#include <pthread.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "crm.h"

void
crm_fatal(const char *fmt, ...)
{
	va_list		args;

	fprintf(stderr, "crm: fatal: ");
	va_start(args, fmt);
	vfprintf(stderr, fmt, args);
	va_end(args);
	fputc('\n', stderr);
	exit(1);
}

/* malloc(0) may return NULL, which we must not mistake for OOM. */
void *
xmalloc(size_t len)
{
	void		*p;

	if ((p = malloc(len == 0 ? 1 : len)) == NULL)
		crm_fatal("xmalloc: out of memory (%zu bytes)", len);
	return (p);
}

void *
xcalloc(size_t n, size_t size)
{
	void		*p;

	if (n == 0 || size == 0)
		n = size = 1;
	if ((p = calloc(n, size)) == NULL)
		crm_fatal("xcalloc: out of memory (%zu x %zu bytes)", n, size);
	return (p);
}

void *
xrealloc(void *old, size_t len)
{
	void		*p;

	if ((p = realloc(old, len == 0 ? 1 : len)) == NULL)
		crm_fatal("xrealloc: out of memory (%zu bytes)", len);
	return (p);
}

char *
xstrdup(const char *s)
{
	return (xstrndup(s, strlen(s)));
}

char *
xstrndup(const char *s, size_t max)
{
	char		*p;
	size_t		 len;

	len = strnlen(s, max);
	p = xmalloc(len + 1);
	memcpy(p, s, len);
	p[len] = '\0';
	return (p);
}

void
xfree(void *p)
{
	free(p);
}

/*
 * The process id without a system call per use (glibc does not cache
 * getpid()): every request's log line and every UUIDv7 asked for it.  A
 * fork() handler refreshes it in the child, so a Kore worker or a
 * crm-worker process never reports its parent's pid.
 */
static pid_t		util_pid;
static pthread_once_t	util_pid_once = PTHREAD_ONCE_INIT;

static void
util_pid_child(void)
{
	util_pid = getpid();
}

static void
util_pid_init(void)
{
	(void)pthread_atfork(NULL, NULL, util_pid_child);
	util_pid = getpid();
}

pid_t
crm_pid(void)
{
	(void)pthread_once(&util_pid_once, util_pid_init);
	return (util_pid);
}

uint64_t
crm_now_us(void)
{
	struct timespec	ts;

	if (clock_gettime(CLOCK_REALTIME, &ts) == -1)
		crm_fatal("clock_gettime: %s", strerror(errno));
	return ((uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000);
}

uint64_t
crm_now_ms(void)
{
	struct timespec	ts;

	if (clock_gettime(CLOCK_REALTIME, &ts) == -1)
		crm_fatal("clock_gettime: %s", strerror(errno));
	return ((uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000);
}

/* RAND_bytes() takes an int length, so large requests go in chunks. */
int
crm_random(void *out, size_t len)
{
	unsigned char	*p = out;
	size_t		 n;

	while (len > 0) {
		n = len > INT_MAX ? INT_MAX : len;
		if (RAND_bytes(p, (int)n) != 1)
			return (-1);
		p += n;
		len -= n;
	}
	return (0);
}

/* Makes room for len more bytes plus the terminating NUL. */
static void
buf_grow(struct buf *b, size_t len)
{
	size_t		need, cap;

	if (len > SIZE_MAX - b->len - 1)
		crm_fatal("buf_grow: size overflow");
	need = b->len + len + 1;
	if (need <= b->cap)
		return;
	cap = b->cap < 64 ? 64 : b->cap;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	b->data = xrealloc(b->data, cap);
	b->data[b->len] = '\0';	/* a zeroed buf had no terminator */
	b->cap = cap;
}

void
buf_init(struct buf *b, size_t cap)
{
	b->data = xmalloc(cap + 1);
	b->data[0] = '\0';
	b->len = 0;
	b->cap = cap + 1;
}

void
buf_append(struct buf *b, const void *p, size_t len)
{
	if (len >= b->cap - b->len)	/* room for len and the NUL? */
		buf_grow(b, len);
	if (len > 0)
		memcpy(b->data + b->len, p, len);
	b->len += len;
	b->data[b->len] = '\0';
}

void
buf_appends(struct buf *b, const char *s)
{
	buf_append(b, s, strlen(s));
}

void
buf_appendc(struct buf *b, char c)
{
	if (b->cap - b->len < 2)
		buf_grow(b, 1);
	b->data[b->len++] = c;
	b->data[b->len] = '\0';
}

/*
 * Formats straight into the free space; only when that is too small does
 * it grow to the exact size and format a second time.
 */
void
buf_appendv(struct buf *b, const char *fmt, va_list args)
{
	va_list		copy;
	int		n;

	buf_grow(b, 0);
	va_copy(copy, args);
	n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, copy);
	va_end(copy);
	if (n < 0)
		crm_fatal("buf_appendv: bad format '%s'", fmt);
	if ((size_t)n >= b->cap - b->len) {
		buf_grow(b, (size_t)n);
		(void)vsnprintf(b->data + b->len, b->cap - b->len, fmt, args);
	}
	b->len += (size_t)n;
}

void
buf_appendf(struct buf *b, const char *fmt, ...)
{
	va_list		args;

	va_start(args, fmt);
	buf_appendv(b, fmt, args);
	va_end(args);
}

void
buf_reset(struct buf *b)
{
	b->len = 0;
	if (b->data != NULL)
		b->data[0] = '\0';
}

char *
buf_cstr(struct buf *b)
{
	buf_grow(b, 0);
	return (b->data);
}

void
buf_free(struct buf *b)
{
	xfree(b->data);
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}

/* Hex, the one implementation: digits of either case in, lower case out. */
int
crm_hexval(char c)
{
	if (c >= '0' && c <= '9')
		return (c - '0');
	if (c >= 'a' && c <= 'f')
		return (c - 'a' + 10);
	if (c >= 'A' && c <= 'F')
		return (c - 'A' + 10);
	return (-1);
}

/* n bytes as 2n hex digits and a NUL. */
void
crm_hex(const uint8_t *p, size_t n, char *out)
{
	static const char	digits[] = "0123456789abcdef";
	size_t			i;

	for (i = 0; i < n; i++) {
		out[i * 2] = digits[p[i] >> 4];
		out[i * 2 + 1] = digits[p[i] & 0xf];
	}
	out[n * 2] = '\0';
}

/* Exactly 2n hex digits into n bytes; -1 on anything else. */
int
crm_unhex(const char *s, uint8_t *out, size_t n)
{
	size_t	i;
	int	hi, lo;

	if (strlen(s) != n * 2)
		return (-1);
	for (i = 0; i < n; i++) {
		if ((hi = crm_hexval(s[i * 2])) < 0 ||
		    (lo = crm_hexval(s[i * 2 + 1])) < 0)
			return (-1);
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return (0);
}
