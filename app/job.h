/*
 * job.h: the job runtime's Kore-free helpers (crm-worker and the webhooks
 * module share them).  One file per subsystem, one prefix per file:
 *
 *	jobspec.c	jspec_  event names and filters, backoff, job types
 *	jobaddr.c	jaddr_  webhook URL checks and the SSRF address guard
 *	jobseal.c	jseal_  webhook secrets: sealed at rest, signatures
 *	jobdb.c		jdb_    synchronous PostgreSQL, tenant transactions
 *	jobq.c		jq_     the Redis side: per-tenant queues, leases
 *	jobhook.c	jhook_  one webhook delivery over libcurl (worker only)
 *	jobrun.c	jrun_   claim, run, finish; the job type table; cron
 *	jobexp.c	jexp_   exports: payload snapshot, CSV/JSONL, the run
 *
 * PostgreSQL (crm.jobs, sql/019_jobs.sql) is the system of record;
 * Redis only carries "<tenant>:<job id>" strings.
 */

#ifndef CRM_JOB_H
#define CRM_JOB_H

#include <sys/socket.h>

#include <stdint.h>

#include "crm.h"

/* jobspec.c */
int	 jspec_event_valid(const char *);	/* a known event name */
int	 jspec_filter_valid(const char *);	/* name, "*" or "x.*" */
int	 jspec_filter_match(const char *, const char *);  /* filter, name */
size_t	 jspec_event_count(void);
const char	*jspec_event_at(size_t);
uint64_t jspec_backoff_ms(int, uint64_t, uint64_t, uint64_t); /* full jitter */

/* jobaddr.c */
#define JADDR_OK		0
#define JADDR_BAD_URL		1	/* not an absolute http(s) URL */
#define JADDR_BAD_SCHEME	2
#define JADDR_CREDENTIALS	3	/* user:pass@ */
#define JADDR_REFUSED		4	/* a non-public address */
#define JADDR_BAD_PORT		5

struct jaddr_url {
	int	 https;
	char	 host[256];	/* without [] for IPv6 literals */
	int	 port;
};

struct jaddr_allow {
	int		 n;
	struct {
		int	 family;
		uint8_t	 addr[16];
		int	 bits;
	}		 net[32];
};

int	 jaddr_parse_url(const char *, struct jaddr_url *);
int	 jaddr_allow_parse(const char *, struct jaddr_allow *); /* -1 bad */
int	 jaddr_public(const struct sockaddr *);	/* 1 routable, public */
int	 jaddr_allowed(const struct sockaddr *, const struct jaddr_allow *);
int	 jaddr_check_url(const char *, const struct jaddr_allow *,
	    const char **);
int	 jaddr_literal(const char *, struct sockaddr_storage *);

/* jobseal.c */
#define JSEAL_KEY_LEN		32
#define JSEAL_SECRET_LEN	49	/* "whsec_" + 43 base64url chars */
#define JSEAL_OVERHEAD		28	/* nonce 12 + tag 16 */

int	 jseal_key_load(const char *, uint8_t [JSEAL_KEY_LEN], int);
void	 jseal_secret_new(char [JSEAL_SECRET_LEN + 1]);
int	 jseal_seal(const uint8_t *, const char *, uint8_t *, size_t *);
int	 jseal_open(const uint8_t *, const uint8_t *, size_t, char *, size_t);
void	 jseal_sign(const char *, const char *, const void *, size_t,
	    char [65]);

/* jobexp.c, the half the request path uses (the rest in jobdb.h). */
struct ent_desc;
struct ent_field;

int	 jexp_entity_ok(const char *);
void	 jexp_csv_field(struct buf *, const char *, size_t);
void	 jexp_csv_header(struct buf *, json_t *);
int	 jexp_row(struct buf *, int, json_t *, const char *, size_t);
char	*jexp_qs(json_t *, const char *, char *, size_t);
json_t	*jexp_desc_json(const struct ent_desc *, const struct ent_field *);
json_t	*jexp_columns(const struct ent_desc *, const struct ent_field *);
int	 jexp_file_ok(const char *);

#endif /* CRM_JOB_H */
