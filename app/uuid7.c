/*
 * uuid7.c: RFC 9562 version 7 UUIDs, their text form and parsing.
 *
 * Layout: 48-bit Unix time in ms, version 7, a 12-bit counter in rand_a
 * (RFC 9562 section 6.2, method 1), variant 10, then 62 random bits.  The
 * counter makes ids from one process strictly increasing even within a
 * millisecond or when the clock steps back, so they sort by creation and
 * keep B-tree inserts at the right edge.  Ids from different processes
 * are ordered by time only.
 *
 * Randomness is read from OpenSSL in batches.  The batch and the counter
 * belong to one process: Kore forks its workers, so a pid change throws
 * both away, or two workers would hand out the same ids.  Not thread-safe:
 * each Kore worker, crmctl and crm-worker is single-threaded.
 *
 * Left to others: what the ids name (every table's primary key).
 */

#include <sys/types.h>

#include <string.h>
#include <unistd.h>

#include "crm.h"

#define UUID7_POOL	512		/* random bytes fetched at a time */
#define UUID7_CTR_MAX	0xfff

static struct {
	pid_t		pid;
	uint64_t	ms;		/* timestamp of the last id */
	unsigned int	ctr;		/* its 12-bit counter */
	size_t		off;		/* next unused byte in pool */
	uint8_t		pool[UUID7_POOL];
} uuid7_st;

static const char	uuid7_hex[] = "0123456789abcdef";

static void
uuid7_rand(uint8_t *out, size_t len)
{
	if (uuid7_st.off + len > sizeof(uuid7_st.pool)) {
		if (crm_random(uuid7_st.pool, sizeof(uuid7_st.pool)) == -1)
			crm_fatal("uuid7: no randomness from OpenSSL");
		uuid7_st.off = 0;
	}
	memcpy(out, uuid7_st.pool + uuid7_st.off, len);
	explicit_bzero(uuid7_st.pool + uuid7_st.off, len);
	uuid7_st.off += len;
}

/*
 * A new millisecond starts the counter at a random value with its top bit
 * clear (RFC 9562 section 6.2), leaving at least 2048 ids before it would
 * overflow into the next millisecond.
 */
static unsigned int
uuid7_seed(void)
{
	uint8_t		r[2];

	uuid7_rand(r, sizeof(r));
	return (((unsigned int)r[0] << 8 | r[1]) & 0x7ff);
}

/* Advances (ms, ctr) past the previous id; see the top of the file. */
static void
uuid7_tick(void)
{
	uint64_t	now;
	pid_t		pid;

	if ((pid = crm_pid()) != uuid7_st.pid) {
		uuid7_st.pid = pid;
		uuid7_st.ms = 0;
		uuid7_st.off = sizeof(uuid7_st.pool);
	}

	now = crm_now_ms() & 0xffffffffffffULL;
	if (now > uuid7_st.ms) {
		uuid7_st.ms = now;
		uuid7_st.ctr = uuid7_seed();
	} else if (++uuid7_st.ctr > UUID7_CTR_MAX) {
		uuid7_st.ms++;
		uuid7_st.ctr = uuid7_seed();
	}
}

void
uuid7_new(uint8_t out[UUID_LEN])
{
	int		i;

	uuid7_tick();
	for (i = 0; i < 6; i++)
		out[i] = (uint8_t)(uuid7_st.ms >> (40 - 8 * i));
	out[6] = (uint8_t)(0x70 | (uuid7_st.ctr >> 8));
	out[7] = (uint8_t)(uuid7_st.ctr & 0xff);
	uuid7_rand(out + 8, 8);
	out[8] = (uint8_t)(0x80 | (out[8] & 0x3f));
}

void
uuid7_fmt(const uint8_t in[UUID_LEN], char out[UUID_STRLEN + 1])
{
	int		i;
	char		*p = out;

	for (i = 0; i < UUID_LEN; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			*p++ = '-';
		*p++ = uuid7_hex[in[i] >> 4];
		*p++ = uuid7_hex[in[i] & 0xf];
	}
	*p = '\0';
}

void
uuid7_new_str(char out[UUID_STRLEN + 1])
{
	uint8_t		raw[UUID_LEN];

	uuid7_new(raw);
	uuid7_fmt(raw, out);
}

/*
 * Accepts exactly the 36-character 8-4-4-4-12 form of any version.  Reads
 * at most 37 bytes: a NUL anywhere before is not a hex digit.
 */
int
uuid7_parse(const char *s, uint8_t out[UUID_LEN])
{
	int		i, hi, lo;

	for (i = 0; i < UUID_LEN; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10) {
			if (*s++ != '-')
				return (-1);
		}
		if ((hi = crm_hexval(s[0])) == -1 ||
		    (lo = crm_hexval(s[1])) == -1)
			return (-1);
		out[i] = (uint8_t)(hi << 4 | lo);
		s += 2;
	}
	return (*s == '\0' ? 0 : -1);
}
