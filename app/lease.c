/*
 * lease.c: rate-limit tokens a worker took from Redis ahead of use.
 *
 * The limiter's script may grant a busy subject set (a tenant and its
 * user, say) several tokens at once; the worker keeps the spare ones here
 * and admits the next requests of the same set without a Redis round trip.
 * The tokens are already charged in Redis, so a lease can only make the
 * limiter refuse early, never admit more than the limit; the script keeps
 * grants small near the limit (limit.c).
 *
 * The table is direct-mapped and fixed: a new lease evicts whatever held
 * its slot, and the evicted tokens are simply lost (charged, never used).
 * Leases live LEASE_TTL_MS, so the RateLimit figures they report stay fresh
 * and tokens of a subject gone quiet do not linger.  One table per worker
 * process; nothing here is shared or locked.
 */

#include <string.h>

#include "crm.h"

#define LEASE_SLOTS	512
#define LEASE_IDLEN	336	/* a tenant key and a user key */

struct lease {
	char		id[LEASE_IDLEN];
	uint64_t	at;		/* when granted, ms */
	uint32_t	left;		/* tokens not yet used */
	long long	rem;		/* Redis remaining after the grant */
	long long	reset_us;
	int		tight;
};

static struct lease	lease_tab[LEASE_SLOTS];

/* FNV-1a: ids are short and come from our own key formats. */
static struct lease *
lease_slot(const char *id)
{
	uint32_t	h = 2166136261u;

	for (; *id != '\0'; id++)
		h = (h ^ (unsigned char)*id) * 16777619u;
	return (&lease_tab[h % LEASE_SLOTS]);
}

/*
 * Take one token of id's lease.  On success fills *out with what the
 * RateLimit header should say (the leased tokens still unused count as
 * remaining: they are this subject's) and returns 1.
 */
int
lease_take(const char *id, uint64_t now, struct lease_view *out)
{
	struct lease	*l = lease_slot(id);

	if (l->left == 0 || now - l->at >= LEASE_TTL_MS ||
	    strcmp(l->id, id) != 0)
		return (0);
	l->left--;
	out->remaining = l->rem + l->left;
	out->reset_us = l->reset_us;
	out->tight = l->tight;
	return (1);
}

/*
 * Keep n spare tokens for id.  Concurrent requests of one subject set can
 * each come back with a grant: the tokens add up, and the newest grant's
 * figures replace the older ones.  Ids too long to store are not leased.
 */
void
lease_put(const char *id, uint64_t now, uint32_t n,
    const struct lease_view *v)
{
	struct lease	*l;
	size_t		 len = strlen(id);

	if (n == 0 || len >= LEASE_IDLEN)
		return;
	l = lease_slot(id);
	if (l->left > 0 && now - l->at < LEASE_TTL_MS &&
	    strcmp(l->id, id) == 0)
		n += l->left;
	memcpy(l->id, id, len + 1);
	l->at = now;
	l->left = n;
	l->rem = v->remaining;
	l->reset_us = v->reset_us;
	l->tight = v->tight;
}

/* Forget every lease (tests; a worker never needs it). */
void
lease_clear(void)
{
	memset(lease_tab, 0, sizeof(lease_tab));
}
