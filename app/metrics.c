/*
 * metrics.c: request counters, latency histograms and gauges for /metrics.
 *
 * Kore workers are processes, so counters live in one shared mapping made
 * by the parent before it forks.  Each worker writes only its own slot
 * (no locks, no atomics: aligned 64-bit stores do not tear on the CPUs we
 * run on) and any worker can render the sum for a scrape.  Routes are
 * counted by their index in the route table, statuses by a small table;
 * both are fixed at start, so the mapping has a fixed size.
 */

#include <sys/mman.h>

#include <stdio.h>
#include <string.h>

#include "srv.h"

#define MET_SLOTS	64
#define MET_ROUTES	256		/* route index + 1; 0 = unmatched */
#define MET_BUCKETS	14

static const int	met_statuses[] = {
	200, 201, 202, 204, 304, 400, 401, 403, 404, 405, 408, 409, 412, 413,
	415, 422, 428, 429, 500, 503, 0	/* 0: any other */
};
#define MET_NSTATUS	((int)(sizeof(met_statuses) / sizeof(met_statuses[0])))

/* Upper bounds in microseconds; the last bucket is +Inf. */
static const uint64_t	met_bounds[MET_BUCKETS - 1] = {
	500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000,
	1000000, 2500000, 10000000
};

struct met_slot {
	pid_t		pid;
	uint64_t	starts;
	int64_t		gauges[MET_G__COUNT];
	uint64_t	counters[MET_C__COUNT];
	uint64_t	count[MET_ROUTES][MET_NSTATUS];
	uint64_t	hist[MET_ROUTES][MET_BUCKETS];
	uint64_t	sum_us[MET_ROUTES];
};

static struct met_slot	*met_shm;
static struct met_slot	*met_me;

void
met_parent_init(void)
{
	met_shm = mmap(NULL, sizeof(*met_shm) * MET_SLOTS,
	    PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (met_shm == MAP_FAILED)
		crm_fatal("metrics: mmap failed");
}

/* Called in each worker at start; a restarted worker reuses its slot. */
void
met_worker_start(void)
{
	met_me = &met_shm[worker->id % MET_SLOTS];
	met_me->pid = getpid();
	met_me->starts++;
	memset(met_me->gauges, 0, sizeof(met_me->gauges));
}

static int
met_status_idx(int status)
{
	int	i;

	for (i = 0; i < MET_NSTATUS - 1; i++) {
		if (met_statuses[i] == status)
			return (i);
	}
	return (MET_NSTATUS - 1);
}

void
met_request(int route, int status, uint64_t us)
{
	int	r, b;

	if (met_me == NULL)
		return;
	r = (route >= 0 && route < MET_ROUTES - 1) ? route + 1 : 0;
	met_me->count[r][met_status_idx(status)]++;
	for (b = 0; b < MET_BUCKETS - 1 && us > met_bounds[b]; b++)
		;
	met_me->hist[r][b]++;
	met_me->sum_us[r] += us;
}

void
met_count(int c)
{
	if (met_me != NULL && c >= 0 && c < MET_C__COUNT)
		met_me->counters[c]++;
}

void
met_set_gauge(int g, int64_t v)
{
	if (met_me != NULL && g >= 0 && g < MET_G__COUNT)
		met_me->gauges[g] = v;
}

static const char *
met_route_name(int r)
{
	const struct route	*rt;

	if (r == 0 || (rt = pipe_route_at(r - 1, NULL)) == NULL)
		return ("unmatched");
	return (rt->path);
}

static const char *
met_method_name(int r)
{
	const struct route	*rt;

	if (r == 0 || (rt = pipe_route_at(r - 1, NULL)) == NULL)
		return ("-");
	return (http_method_text(rt->method));
}

static void
met_render_counts(struct buf *out)
{
	uint64_t	n;
	int		r, s, w;

	buf_appends(out, "# HELP crm_http_requests_total Requests by route and "
	    "status.\n# TYPE crm_http_requests_total counter\n");
	for (r = 0; r < MET_ROUTES; r++) {
		for (s = 0; s < MET_NSTATUS; s++) {
			for (n = 0, w = 0; w < MET_SLOTS; w++)
				n += met_shm[w].count[r][s];
			if (n == 0)
				continue;
			buf_appendf(out, "crm_http_requests_total{method=\"%s\","
			    "route=\"%s\",status=\"%d\"} %llu\n",
			    met_method_name(r), met_route_name(r),
			    met_statuses[s], (unsigned long long)n);
		}
	}
}

static void
met_render_hist_route(struct buf *out, int r)
{
	uint64_t	cum = 0, n, sum = 0;
	int		b, w;

	for (w = 0; w < MET_SLOTS; w++)
		sum += met_shm[w].sum_us[r];
	for (b = 0; b < MET_BUCKETS; b++) {
		for (n = 0, w = 0; w < MET_SLOTS; w++)
			n += met_shm[w].hist[r][b];
		cum += n;
		if (b < MET_BUCKETS - 1)
			buf_appendf(out, "crm_http_request_duration_seconds_bucket"
			    "{route=\"%s\",le=\"%g\"} %llu\n", met_route_name(r),
			    met_bounds[b] / 1e6, (unsigned long long)cum);
		else
			buf_appendf(out, "crm_http_request_duration_seconds_bucket"
			    "{route=\"%s\",le=\"+Inf\"} %llu\n",
			    met_route_name(r), (unsigned long long)cum);
	}
	buf_appendf(out, "crm_http_request_duration_seconds_sum{route=\"%s\"} "
	    "%.6f\n", met_route_name(r), sum / 1e6);
	buf_appendf(out, "crm_http_request_duration_seconds_count{route=\"%s\"} "
	    "%llu\n", met_route_name(r), (unsigned long long)cum);
}

static void
met_render_hist(struct buf *out)
{
	int	r, b, w, used;

	buf_appends(out, "# HELP crm_http_request_duration_seconds Request "
	    "latency.\n# TYPE crm_http_request_duration_seconds histogram\n");
	for (r = 0; r < MET_ROUTES; r++) {
		for (used = 0, w = 0; w < MET_SLOTS && !used; w++) {
			for (b = 0; b < MET_BUCKETS; b++)
				used |= met_shm[w].hist[r][b] != 0;
		}
		if (used)
			met_render_hist_route(out, r);
	}
}

static void
met_render_workers(struct buf *out)
{
	static const char	*gname[MET_G__COUNT] = {
		"crm_db_pool_in_use", "crm_db_pool_size", "crm_redis_up"
	};
	static const char	*cname[MET_C__COUNT] = {
		"crm_db_guard_rollbacks_total", "crm_db_connections_closed_total",
		"crm_ratelimit_fail_open_total"
	};
	uint64_t		 restarts = 0, n;
	int			 g, w;

	for (g = 0; g < MET_G__COUNT; g++) {
		buf_appendf(out, "# TYPE %s gauge\n", gname[g]);
		for (w = 0; w < MET_SLOTS; w++) {
			if (met_shm[w].starts == 0)
				continue;
			buf_appendf(out, "%s{worker=\"%d\"} %lld\n", gname[g], w,
			    (long long)met_shm[w].gauges[g]);
		}
	}
	for (g = 0; g < MET_C__COUNT; g++) {
		for (n = 0, w = 0; w < MET_SLOTS; w++)
			n += met_shm[w].counters[g];
		buf_appendf(out, "# TYPE %s counter\n%s %llu\n", cname[g],
		    cname[g], (unsigned long long)n);
	}
	for (w = 0; w < MET_SLOTS; w++) {
		if (met_shm[w].starts > 1)
			restarts += met_shm[w].starts - 1;
	}
	buf_appendf(out, "# HELP crm_worker_restarts_total Worker processes "
	    "restarted after dying.\n# TYPE crm_worker_restarts_total counter\n"
	    "crm_worker_restarts_total %llu\n", (unsigned long long)restarts);
}

void
met_render(struct buf *out)
{
	met_render_counts(out);
	met_render_hist(out);
	met_render_workers(out);
}
