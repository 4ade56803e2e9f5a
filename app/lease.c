/*
 * lease.c: what a worker knows of a subject set's rate limit between two
 * trips to Redis.
 *
 * The limiter's script may grant a busy subject set (a tenant and its
 * user, say) several tokens at once; the worker keeps the spare ones here
 * and admits the next requests of the same set without a Redis round trip.
 * The tokens are already charged in Redis, so a lease can only make the
 * limiter refuse early, never admit more than the limit; the script keeps
 * grants small near the limit (limit.c).
 *
 * A refusal is kept too, until the moment the script said a token comes
 * back (LEASE_TTL_MS at most): until then Redis would refuse again, so a
 * flood of over-limit requests costs Redis next to nothing.  And while one request of a set is asking
 * for a grant, the set's other requests ask for single tokens: concurrent
 * grants would pile up more tokens than the set can spend before they
 * expire.
 *
 * The table is direct-mapped and fixed: a new entry evicts whatever held
 * its slot, and evicted tokens are simply lost (charged, never used).
 * Entries live LEASE_TTL_MS, so the RateLimit figures they report stay
 * fresh and tokens of a subject gone quiet do not linger.  One table per
 * worker process; nothing here is shared or locked.
 */

#include <string.h>

#include "crm.h"

#define LEASE_SLOTS	512
#define LEASE_IDLEN	336	/* a tenant key and a user key */

struct lease {
	char		id[LEASE_IDLEN];
	uint64_t	at;		/* when granted, ms */
	uint64_t	asking;		/* when a grant was asked for, ms */
	uint64_t	refused_until;	/* ms; 0 when not refused */
	uint64_t	wait_until;	/* ms: when the script said a token is back */
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

/* id's entry, or NULL; an id too long to store never has one. */
static struct lease *
lease_find(const char *id)
{
	struct lease	*l = lease_slot(id);

	return (strcmp(l->id, id) == 0 ? l : NULL);
}

/* id's entry, taking the slot over (and forgetting its holder) if need be. */
static struct lease *
lease_claim(const char *id)
{
	struct lease	*l;
	size_t		 len = strlen(id);

	if (len >= LEASE_IDLEN)
		return (NULL);
	if ((l = lease_find(id)) != NULL)
		return (l);
	l = lease_slot(id);
	memset(l, 0, sizeof(*l));
	memcpy(l->id, id, len + 1);
	return (l);
}

/*
 * What id's entry says now: 1, a token was taken (*out: what the RateLimit
 * header should say; the leased tokens still unused count as remaining:
 * they are this subject's); -1, refused (*out: reset_us is the wait); 0,
 * ask Redis.
 */
int
lease_take(const char *id, uint64_t now, struct lease_view *out)
{
	struct lease	*l = lease_find(id);

	if (l == NULL)
		return (0);
	if (l->left > 0 && now - l->at < LEASE_TTL_MS) {
		l->left--;
		out->remaining = l->rem + l->left;
		out->reset_us = l->reset_us;
		out->tight = l->tight;
		return (1);
	}
	if (now < l->refused_until) {
		out->remaining = 0;
		out->reset_us = (long long)(l->wait_until - now) * 1000;
		out->tight = l->tight;
		return (-1);
	}
	return (0);
}

/*
 * May this request ask Redis for a grant of several tokens?  Yes unless
 * another request of the set is asking already (or asked less than
 * LEASE_TTL_MS ago and its answer never came).
 */
int
lease_ask(const char *id, uint64_t now)
{
	struct lease	*l;

	if ((l = lease_claim(id)) == NULL)
		return (0);
	if (l->asking != 0 && now - l->asking < LEASE_TTL_MS)
		return (0);
	l->asking = now;
	return (1);
}

/*
 * Keep n spare tokens for id (n may be 0: the grant was spent at once).
 * Concurrent requests of one set can each come back with a grant: the
 * tokens add up, and the newest grant's figures replace the older ones.
 */
void
lease_put(const char *id, uint64_t now, uint32_t n,
    const struct lease_view *v)
{
	struct lease	*l;

	if ((l = lease_claim(id)) == NULL)
		return;
	l->asking = 0;
	l->refused_until = 0;
	if (n == 0)
		return;
	if (l->left > 0 && now - l->at < LEASE_TTL_MS)
		n += l->left;
	l->at = now;
	l->left = n;
	l->rem = v->remaining;
	l->reset_us = v->reset_us;
	l->tight = v->tight;
}

/*
 * Remember a refusal until the script's wait has passed, or LEASE_TTL_MS
 * at most: a long wait (a subject far over) is asked again now and then,
 * so that clearing the limiter's state in Redis takes effect soon.
 */
void
lease_refuse(const char *id, uint64_t now, long long wait_us, int tight)
{
	struct lease	*l;
	uint64_t	 ms = (uint64_t)wait_us / 1000;

	if (wait_us <= 0 || (l = lease_claim(id)) == NULL)
		return;
	l->asking = 0;
	l->wait_until = now + ms;
	l->refused_until = now + (ms < LEASE_TTL_MS ? ms : LEASE_TTL_MS);
	l->tight = tight;
}

/* Forget everything (tests; a worker never needs it). */
void
lease_clear(void)
{
	memset(lease_tab, 0, sizeof(lease_tab));
}
