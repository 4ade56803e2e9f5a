/*
 * jobdb.h: crm-worker's synchronous PostgreSQL and Redis (jobdb.c, jobq.c)
 * and the runtime (jobrun.c, jobhook.c).  Kept apart from job.h so that
 * the Kore module, which includes job.h, never sees libpq or hiredis
 * types it does not use.
 */

#ifndef CRM_JOBDB_H
#define CRM_JOBDB_H

#include <libpq-fe.h>
#include <hiredis/hiredis.h>

#include "job.h"
#include "ent.h"

/* An export page: elist.c's 3 fixed and up to 40 filter parameters. */
#define JDB_MAXP	44

struct jdb_stmt {
	const char	*sql;
	int		 n;
	const char	*p[JDB_MAXP];
	PGresult	*res;
};

struct jdb_fail {
	int	 index;			/* the failed statement, or -1 */
	char	 sqlstate[6];
};

PGconn	*jdb_connect(const char *, char *, size_t);
int	 jdb_tx(PGconn *, const char *, struct jdb_stmt *, int, char *,
	    size_t, int *);
int	 jdb_tx_at(PGconn *, const char *, struct jdb_stmt *, int, char *,
	    size_t, int *, struct jdb_fail *, const char *const *);
void	 jdb_clear(struct jdb_stmt *, int);

/* jobq.c: "<tenant>:<job id>" strings; 0 ok, -1 Redis failed. */
#define JQ_ITEM_LEN	(UUID_STRLEN * 2 + 1)

redisContext	*jq_connect(const char *, char *, size_t);
long long	jq_push(redisContext *, const char *const *, int);
long long	jq_seq(redisContext *);
int	 jq_take(redisContext *, int, char [JQ_ITEM_LEN + 1]); /* 1 got, 0 */
int	 jq_ack(redisContext *, const char *);
int	 jq_release(redisContext *, const char *);
int	 jq_reap(redisContext *);		/* expired leases back */
int	 jq_epoch_ok(redisContext *);		/* 1 known, 0 lost, -1 */
int	 jq_epoch_set(redisContext *);
int	 jq_once(redisContext *, const char *, int);	/* SET NX EX */
long long	jq_depth(redisContext *);

/* jobhook.c: one POST; the outcome for the job's finish. */
struct jhook_result {
	int	 status;		/* HTTP status, 0 when none */
	int	 refused;		/* SSRF guard refused every address */
	char	 error[200];		/* "" on 2xx */
};

void	 jhook_global_init(void);
void	 jhook_post(const char *, const char *const *, const char *, size_t,
	    const struct jaddr_allow *, struct jhook_result *);

/* jobmail.c: one e-mail job. */
#define JMAIL_BUCKETS	8		/* 10 25 50 100 250 500 1000 5000 ms */

struct jmail_result {
	int		 retry;		/* on failure: worth another attempt */
	int		 smtp;		/* last SMTP reply code, 0 none */
	uint64_t	 ms;		/* time in SMTP */
	char		 error[200];
	char		*subject;	/* contact e-mails: as rendered */
	char		*text;
};

/* jobrun.c */
struct jrun_stats {
	uint64_t	 succeeded;
	uint64_t	 failed;
	uint64_t	 retried;
	uint64_t	 dead;
	uint64_t	 relayed;
	uint64_t	 email_sent;	/* jobmail.c: SMTP accepted the message */
	uint64_t	 email_failed;	/* failed for good (5xx, dead, refused) */
	uint64_t	 email_ms_sum;	/* SMTP time of the sent ones */
	uint64_t	 email_ms_le[JMAIL_BUCKETS];	/* histogram */
	int64_t		 queued;	/* gauges, refreshed by the tick */
	int64_t		 running;
	double		 oldest_s;
	int64_t		 redis_depth;
};

struct jrun {
	PGconn			*pg;
	redisContext		*rd;
	int			 index;		/* process number */
	uint8_t			 key[JSEAL_KEY_LEN];
	struct jaddr_allow	 allow;
	struct jrun_stats	*stats;		/* shared with the parent */
	uint64_t		 next_tick_ms;
	uint64_t		 next_stats_ms;
	char			 token[40];	/* per claim */
	long long		 pushseq;	/* jobs:seq after our last push */
	int			 repush;	/* a push failed: republish all */
	int			 pg_down;	/* logged once per outage */
	int			 rd_down;
};

int	 jrun_tick(struct jrun *);
int	 jrun_one(struct jrun *);	/* 1 ran a job, 0 none, -1 error */
int	 jrun_pg_up(struct jrun *);
int	 jrun_rd_up(struct jrun *);
void	 jrun_close(struct jrun *);

/*
 * jobexp.c: exports.  The request path snapshots the descriptor and the
 * custom fields into the payload (jexp_desc_json, jexp_columns, jexp_qs);
 * the worker rebuilds them (jexp_desc_load) and writes the file.
 */
struct jexp_desc {
	struct ent_desc		 d;
	struct ent_field	*fields;	/* owned, NULL-name terminated */
	struct ent_field	*custom;
	char			 name[32];
	char			 singular[32];
	char			 table[40];
};

struct jexp_result {
	long long	 rows;
	long long	 bytes;
	char		 file[160];	/* <tenant>.<job>.<csv|jsonl> */
	int		 retry;		/* on failure: worth another attempt */
	char		 error[200];
};

int	 jexp_desc_load(json_t *, struct jexp_desc *);
void	 jexp_desc_free(struct jexp_desc *);
int	 jexp_run(struct jrun *, const char *, const char *, json_t *,
	    struct jexp_result *);
int	 jexp_cleanup(struct jrun *, const char *, char *, size_t, long *);

struct jrun;
int	 jmail_run(struct jrun *, const char *, json_t *,
	    struct jmail_result *);
void	 jmail_result_free(struct jmail_result *);
extern const int	jmail_bucket_ms[JMAIL_BUCKETS];
/* jobimp.c: imports; the request path is modules/integrations/imports.c. */
struct jimp_result {
	long long	 rows, total, created, updated, skipped, failed;
	int		 retry;		/* on failure: worth another attempt */
	int		 malformed;	/* the file is not CSV: row, detail */
	long long	 row;
	char		 detail[160];
	char		 error[200];
	char		 path[1024];	/* the uploaded file */
};

int	 jimp_run(struct jrun *, const char *, const char *, json_t *,
	    struct jimp_result *);
int	 jimp_file_ok(const char *, const char *);
void	 jimp_array_add(struct buf *, const char *);
char	*jimp_trimmed(const char *);

#endif /* CRM_JOBDB_H */
