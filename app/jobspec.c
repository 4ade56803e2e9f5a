/*
 * jobspec.c: webhook event names and filters, and the retry backoff.
 *
 * Event names are "<entity singular>.<created|updated|deleted|restored>"
 * for every entity, plus a few domain events (API.md); the table below is
 * the one list the API validates subscriptions against.  A filter is an
 * exact name, "*" (everything) or "<entity>.*".  PostgreSQL matches them
 * the same way (crm.webhook_wants, sql/019_jobs.sql).
 */

#include <string.h>

#include "job.h"

static const char *const	jspec_entities[] = {
	"account", "contact", "lead", "deal", "pipeline", "activity",
	"product", "price_book",
};

static const char *const	jspec_actions[] = {
	"created", "updated", "deleted", "restored",
};

static const char *const	jspec_extra[] = {
	"deal.stage_changed", "lead.converted",
};

#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))
#define JSPEC_NAMES	(NELEM(jspec_entities) * NELEM(jspec_actions) + \
			    NELEM(jspec_extra))

static char	jspec_names[JSPEC_NAMES][48];
static int	jspec_ready;

static void
jspec_init(void)
{
	size_t		i, j, n = 0;

	if (jspec_ready)
		return;
	for (i = 0; i < NELEM(jspec_entities); i++) {
		for (j = 0; j < NELEM(jspec_actions); j++)
			(void)snprintf(jspec_names[n++], sizeof(jspec_names[0]),
			    "%s.%s", jspec_entities[i], jspec_actions[j]);
	}
	for (i = 0; i < NELEM(jspec_extra); i++)
		(void)snprintf(jspec_names[n++], sizeof(jspec_names[0]), "%s",
		    jspec_extra[i]);
	jspec_ready = 1;
}

size_t
jspec_event_count(void)
{
	return (JSPEC_NAMES);
}

const char *
jspec_event_at(size_t i)
{
	jspec_init();
	return (i < JSPEC_NAMES ? jspec_names[i] : NULL);
}

int
jspec_event_valid(const char *name)
{
	size_t		i;

	jspec_init();
	for (i = 0; i < JSPEC_NAMES; i++) {
		if (strcmp(jspec_names[i], name) == 0)
			return (1);
	}
	return (0);
}

static int
jspec_entity_valid(const char *s, size_t len)
{
	size_t		i;

	for (i = 0; i < NELEM(jspec_entities); i++) {
		if (strlen(jspec_entities[i]) == len &&
		    memcmp(jspec_entities[i], s, len) == 0)
			return (1);
	}
	return (0);
}

int
jspec_filter_valid(const char *f)
{
	size_t		len = strlen(f);

	if (strcmp(f, "*") == 0)
		return (1);
	if (len > 2 && strcmp(f + len - 2, ".*") == 0)
		return (jspec_entity_valid(f, len - 2));
	return (jspec_event_valid(f));
}

int
jspec_filter_match(const char *f, const char *name)
{
	size_t		len = strlen(f);

	if (strcmp(f, "*") == 0 || strcmp(f, name) == 0)
		return (1);
	return (len > 2 && strcmp(f + len - 2, ".*") == 0 &&
	    strncmp(f, name, len - 1) == 0 && strchr(name + len - 1, '.') ==
	    NULL);
}

/*
 * Full jitter (AWS Architecture Blog): a uniform delay in
 * [0, min(cap, base * 2^attempt)].  attempt counts from 1; rnd is a
 * random 64-bit value (the caller's, so tests are deterministic).
 */
uint64_t
jspec_backoff_ms(int attempt, uint64_t base, uint64_t cap, uint64_t rnd)
{
	uint64_t	ceiling = base;
	int		i;

	for (i = 1; i < attempt && ceiling < cap; i++)
		ceiling *= 2;
	if (ceiling > cap)
		ceiling = cap;
	return (rnd % (ceiling + 1));
}
