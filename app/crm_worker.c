/*
 * crm_worker.c: crm-worker, the background job runner (no Kore).
 *
 * One supervisor and CRM_WORKER_PROCESSES children.  The supervisor only
 * watches: it respawns a child that died (kill -9, a crash) within a
 * second, writes the metrics file, and on SIGTERM or SIGINT passes the
 * signal on and waits for every child.  A child runs jobs one at a time
 * (app/jobrun.c): between jobs it ticks (relay, reaper, schedule) and,
 * when Redis has nothing for it, sleeps on PostgreSQL's crm_jobs
 * notification, which every job insert raises at its commit.  On SIGTERM
 * a child finishes the job in hand (a webhook is bounded by its timeout)
 * and exits; a child whose supervisor dies gets SIGTERM too
 * (PR_SET_PDEATHSIG), so a killed supervisor leaves no orphans behind.
 *
 * Metrics (CRM_WORKER_METRICS_FILE, Prometheus text, node_exporter's
 * textfile format): job outcomes as counters summed over the children,
 * queue depth and the oldest due job's age as gauges.
 */

#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "jobdb.h"
#include "mail.h"

#define WRK_MAX		64

static volatile sig_atomic_t	 wrk_stop;
static struct jrun_stats	*wrk_stats;
static pid_t			 wrk_pids[WRK_MAX];
static uint64_t			 wrk_started[WRK_MAX];
static struct jaddr_allow	 wrk_allow;
static uint8_t			 wrk_key[JSEAL_KEY_LEN];

static void
wrk_on_signal(int sig)
{
	wrk_stop = 1;
}

static void
wrk_signals(void)
{
	struct sigaction	sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = wrk_on_signal;
	sigemptyset(&sa.sa_mask);
	(void)sigaction(SIGTERM, &sa, NULL);
	(void)sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	(void)sigaction(SIGPIPE, &sa, NULL);
}

/* Sleeps on the crm_jobs notification; 1 when one came. */
static int
wrk_wait(struct jrun *w, int ms)
{
	struct pollfd	 pfd;
	PGnotify	*n;
	int		 got = 0;

	if (w->pg == NULL || PQsocket(w->pg) < 0) {
		(void)poll(NULL, 0, ms);
		return (0);
	}
	pfd.fd = PQsocket(w->pg);
	pfd.events = POLLIN;
	if (ms > 0 && poll(&pfd, 1, ms) <= 0)
		return (0);
	if (PQconsumeInput(w->pg) != 1) {
		PQfinish(w->pg);
		w->pg = NULL;
		return (0);
	}
	while ((n = PQnotifies(w->pg)) != NULL) {
		PQfreemem(n);
		got = 1;
	}
	return (got);
}

static void
wrk_child(int index)
{
	struct jrun	w;
	int		rc, wake = 1;

	(void)prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() == 1)
		_exit(0);
	memset(&w, 0, sizeof(w));
	w.index = index;
	w.stats = &wrk_stats[index];
	w.allow = wrk_allow;
	memcpy(w.key, wrk_key, sizeof(w.key));
	log_msg(LOG_LVL_INFO, "worker_start", "worker %d started (pid %d)",
	    index, (int)getpid());
	while (!wrk_stop) {
		if (wake || crm_now_ms() >= w.next_tick_ms) {
			wake = 0;
			if (jrun_tick(&w) == -1) {
				(void)poll(NULL, 0, 500);
				continue;
			}
		}
		if ((rc = jrun_one(&w)) == 1) {
			wake = wrk_wait(&w, 0);
			continue;
		}
		if (rc == -1) {
			(void)poll(NULL, 0, 200);
			continue;
		}
		wake = wrk_wait(&w, crm_conf.job_tick_ms);
	}
	log_msg(LOG_LVL_INFO, "worker_stop", "worker %d stopping", index);
	jrun_close(&w);
	explicit_bzero(wrk_key, sizeof(wrk_key));
	conf_free();
	_exit(0);
}

static void
wrk_spawn(int i)
{
	pid_t	pid;

	if ((pid = fork()) == -1) {
		log_msg(LOG_LVL_ERROR, "worker_fork", "fork: %s",
		    strerror(errno));
		return;
	}
	if (pid == 0)
		wrk_child(i);
	wrk_pids[i] = pid;
	wrk_started[i] = crm_now_ms();
}

static void
wrk_email_sum(struct jrun_stats *sum, const struct jrun_stats *s)
{
	int	i;

	sum->email_sent += s->email_sent;
	sum->email_failed += s->email_failed;
	sum->email_ms_sum += s->email_ms_sum;
	for (i = 0; i < JMAIL_BUCKETS; i++)
		sum->email_ms_le[i] += s->email_ms_le[i];
}

/* E-mails sent and failed for good; SMTP time of the sent ones. */
static void
wrk_email_metrics(struct buf *b, const struct jrun_stats *sum)
{
	int	i;

	buf_appendf(b, "# TYPE crm_worker_emails_total counter\n"
	    "crm_worker_emails_total{outcome=\"sent\"} %llu\n"
	    "crm_worker_emails_total{outcome=\"failed\"} %llu\n"
	    "# TYPE crm_worker_email_send_seconds histogram\n",
	    (unsigned long long)sum->email_sent,
	    (unsigned long long)sum->email_failed);
	for (i = 0; i < JMAIL_BUCKETS; i++)
		buf_appendf(b, "crm_worker_email_send_seconds_bucket{le=\"%g\"} "
		    "%llu\n", jmail_bucket_ms[i] / 1000.0,
		    (unsigned long long)sum->email_ms_le[i]);
	buf_appendf(b, "crm_worker_email_send_seconds_bucket{le=\"+Inf\"} "
	    "%llu\ncrm_worker_email_send_seconds_sum %.3f\n"
	    "crm_worker_email_send_seconds_count %llu\n",
	    (unsigned long long)sum->email_sent, sum->email_ms_sum / 1000.0,
	    (unsigned long long)sum->email_sent);
}

static void
wrk_metrics(int n)
{
	struct jrun_stats	 sum;
	struct buf		 b;
	char			 tmp[1100];
	FILE			*f;
	int			 i;

	if (crm_conf.worker_metrics_file[0] == '\0')
		return;
	memset(&sum, 0, sizeof(sum));
	for (i = 0; i < n; i++) {
		sum.succeeded += wrk_stats[i].succeeded;
		sum.failed += wrk_stats[i].failed;
		sum.retried += wrk_stats[i].retried;
		sum.dead += wrk_stats[i].dead;
		sum.relayed += wrk_stats[i].relayed;
		wrk_email_sum(&sum, &wrk_stats[i]);
	}
	buf_init(&b, 1024);
	buf_appendf(&b, "# TYPE crm_jobs_total counter\n"
	    "crm_jobs_total{outcome=\"succeeded\"} %llu\n"
	    "crm_jobs_total{outcome=\"failed\"} %llu\n"
	    "crm_jobs_total{outcome=\"retried\"} %llu\n"
	    "crm_jobs_total{outcome=\"dead\"} %llu\n"
	    "# TYPE crm_jobs_relayed_total counter\n"
	    "crm_jobs_relayed_total %llu\n",
	    (unsigned long long)sum.succeeded, (unsigned long long)sum.failed,
	    (unsigned long long)sum.retried, (unsigned long long)sum.dead,
	    (unsigned long long)sum.relayed);
	buf_appendf(&b, "# TYPE crm_jobs_queued gauge\ncrm_jobs_queued %lld\n"
	    "# TYPE crm_jobs_running gauge\ncrm_jobs_running %lld\n"
	    "# TYPE crm_jobs_oldest_age_seconds gauge\n"
	    "crm_jobs_oldest_age_seconds %.3f\n"
	    "# TYPE crm_jobs_redis_depth gauge\ncrm_jobs_redis_depth %lld\n"
	    "# TYPE crm_worker_processes gauge\ncrm_worker_processes %d\n",
	    (long long)wrk_stats[0].queued, (long long)wrk_stats[0].running,
	    wrk_stats[0].oldest_s, (long long)wrk_stats[0].redis_depth, n);
	wrk_email_metrics(&b, &sum);
	(void)snprintf(tmp, sizeof(tmp), "%s.tmp", crm_conf.worker_metrics_file);
	if ((f = fopen(tmp, "w")) != NULL) {
		(void)fwrite(b.data, 1, b.len, f);
		if (fclose(f) == 0)
			(void)rename(tmp, crm_conf.worker_metrics_file);
	}
	buf_free(&b);
}

/* Reaps dead children and respawns them (after 1 s if they died young). */
static void
wrk_reap(int n)
{
	pid_t		pid;
	int		i, st;

	while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
		for (i = 0; i < n; i++) {
			if (wrk_pids[i] != pid)
				continue;
			wrk_pids[i] = 0;
			if (!wrk_stop)
				log_msg(LOG_LVL_WARN, "worker_died",
				    "worker %d (pid %d) died (%s %d); "
				    "respawning", i, (int)pid,
				    WIFSIGNALED(st) ? "signal" : "exit",
				    WIFSIGNALED(st) ? WTERMSIG(st) :
				    WEXITSTATUS(st));
		}
	}
	for (i = 0; i < n && !wrk_stop; i++) {
		if (wrk_pids[i] == 0 &&
		    crm_now_ms() - wrk_started[i] >= 1000)
			wrk_spawn(i);
	}
}

static void
wrk_supervise(int n)
{
	uint64_t	next_metrics = 0;
	int		i, alive;

	for (i = 0; i < n; i++)
		wrk_spawn(i);
	while (!wrk_stop) {
		(void)poll(NULL, 0, 100);
		wrk_reap(n);
		if (crm_now_ms() >= next_metrics) {
			next_metrics = crm_now_ms() + 1000;
			wrk_metrics(n);
		}
	}
	log_msg(LOG_LVL_INFO, "worker_shutdown", "stopping %d workers", n);
	for (i = 0; i < n; i++) {
		if (wrk_pids[i] > 0)
			(void)kill(wrk_pids[i], SIGTERM);
	}
	do {
		alive = 0;
		while (waitpid(-1, NULL, 0) > 0 || errno == EINTR)
			;
		for (i = 0; i < n; i++) {
			if (wrk_pids[i] > 0 && kill(wrk_pids[i], 0) == 0 &&
			    waitpid(wrk_pids[i], NULL, WNOHANG) == 0)
				alive = 1;
		}
	} while (alive);
	wrk_metrics(n);
}

static int
wrk_configure(void)
{
	char	msg[256];

	if (conf_load(msg, sizeof(msg)) == -1) {
		log_msg(LOG_LVL_ERROR, "config", "%s", msg);
		return (-1);
	}
	log_set_level(crm_conf.log_level);
	if (crm_conf.worker_database_url[0] == '\0') {
		log_msg(LOG_LVL_ERROR, "config", "CRM_WORKER_DATABASE_URL is "
		    "empty (the crm_worker role's URL)");
		return (-1);
	}
	if ((int64_t)crm_conf.job_lease_s * 1000 <
	    (int64_t)crm_conf.webhook_timeout_ms + 2000) {
		log_msg(LOG_LVL_ERROR, "config", "CRM_JOB_LEASE_S must exceed "
		    "CRM_WEBHOOK_TIMEOUT_MS by 2 s at least");
		return (-1);
	}
	if ((int64_t)crm_conf.job_lease_s * 1000 <
	    (int64_t)crm_conf.smtp_timeout_ms + 2000) {
		log_msg(LOG_LVL_ERROR, "config", "CRM_JOB_LEASE_S must exceed "
		    "CRM_SMTP_TIMEOUT_MS by 2 s at least");
		return (-1);
	}
	if (!mail_addr_ok(crm_conf.smtp_from)) {
		log_msg(LOG_LVL_ERROR, "config", "CRM_SMTP_FROM: a plain "
		    "address (local@domain.tld)");
		return (-1);
	}
	if (crm_conf.smtp_url[0] == '\0')
		log_msg(LOG_LVL_WARN, "config", "CRM_SMTP_URL is not set: "
		    "e-mails wait and retry until it is");
	if (jaddr_allow_parse(crm_conf.webhook_allowlist, &wrk_allow) == -1) {
		log_msg(LOG_LVL_ERROR, "config", "CRM_WEBHOOK_ALLOWLIST: "
		    "comma-separated CIDRs, at most 32");
		return (-1);
	}
	if (jseal_key_load(crm_conf.keys_dir, wrk_key, 1) == -1) {
		log_msg(LOG_LVL_ERROR, "config", "CRM_KEYS_DIR: cannot read or "
		    "create the webhook secret key");
		return (-1);
	}
	return (0);
}

int
main(int argc, char **argv)
{
	int	n;

	if (argc > 1) {
		fprintf(stderr, "usage: crm-worker (configured by CRM_* "
		    "environment variables)\n");
		return (2);
	}
	if (wrk_configure() == -1)
		return (1);
	n = crm_conf.worker_processes;
	wrk_stats = mmap(NULL, sizeof(*wrk_stats) * WRK_MAX,
	    PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (wrk_stats == MAP_FAILED)
		crm_fatal("mmap: %s", strerror(errno));
	memset(wrk_stats, 0, sizeof(*wrk_stats) * WRK_MAX);
	jhook_global_init();
	wrk_signals();
	log_msg(LOG_LVL_INFO, "worker_supervisor", "crm-worker %s: %d "
	    "processes, pid %d", CRM_VERSION, n, (int)getpid());
	wrk_supervise(n);
	explicit_bzero(wrk_key, sizeof(wrk_key));
	conf_free();
	return (0);
}
