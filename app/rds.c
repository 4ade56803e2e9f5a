/*
 * rds.c: the worker's one Redis connection, on Kore's event loop.
 *
 * hiredis 0.14 ships no adapter for Kore, so this file is one: the five ev
 * hooks of a redisAsyncContext map onto epoll through rds_link, whose first
 * member is the struct kore_event that epoll hands back to rds_event().
 * Level-triggered on purpose: redisAsyncHandleRead() reads at most 16 KiB
 * per call and epoll keeps reporting what is left.
 *
 * hiredis 0.14's async API has no timeouts.  Every command we send sits in
 * rds_queue, a FIFO (Redis answers in order) with a deadline each; a 100 ms
 * tick drops the connection when the oldest is overdue.  Dropping is
 * redisAsyncFree(), which calls every pending callback with a NULL reply
 * before it calls our cleanup hook, so each callback runs exactly once:
 * with its reply or with NULL.  The link is up only once the handshake
 * (AUTH, SELECT, PING) has succeeded; until then rds_cmd() fails at once,
 * and after any loss a one-shot timer reconnects with jittered exponential
 * backoff.
 *
 * Lifetimes: hiredis owns each reply and frees it when the callback
 * returns, so callbacks copy what they keep.  An rds_pending lives from
 * rds_send() to its callback.  A request's rds_wait lives as long as its
 * command; when the request goes first, rds_rq_free() detaches it and the
 * reply, when it comes, is dropped.
 *
 * Left to others: what the commands are, and whether a NULL reply fails
 * open (rate limits) or closed (login).  The URL may carry a password:
 * nothing here logs it or the URL.
 */

#include <sys/epoll.h>
#include <sys/queue.h>

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <hiredis/hiredis.h>
#include <hiredis/async.h>

#include "srv.h"

#define RDS_EVT_TYPE		100	/* no KORE_TYPE_* has it; db.c has 101 */
#define RDS_TIMEOUT_MS		1000	/* per command, handshake included */
#define RDS_TICK_MS		100
#define RDS_BACKOFF_MIN_MS	100
#define RDS_BACKOFF_MAX_MS	5000
#define RDS_HANGUP_READS	64	/* 16 KiB reads after a hangup */
#define RDS_DEFAULT_PORT	6379

enum rds_state {
	RDS_DOWN,		/* no context, or one being torn down */
	RDS_CONNECTING,		/* context open, handshake in flight */
	RDS_UP
};

/*
 * The adapter.  There is one per worker and it is static: an epoll event
 * still in the batch after its context died finds ac == NULL and stops.
 */
struct rds_link {
	struct kore_event	 evt;		/* must be first: epoll data */
	redisAsyncContext	*ac;		/* NULL when there is none */
	int			 fd;
	int			 mask;		/* registered events, 0: none */
	int			 reading;	/* what hiredis asked for */
	int			 writing;
	int			 closing;	/* redisAsyncFree() was called */
	int			 defer;		/* rds_send() syncs epoll itself */
};

struct rds_url {
	char		host[256];
	int		port;
	int		db;
	char		user[128];
	char		pass[256];
};

struct rds_pending {
	rds_cb				 cb;
	void				*arg;
	uint64_t			 deadline;	/* kore_time_ms() */
	TAILQ_ENTRY(rds_pending)	 list;
};

/* A request parked on one command (rq->rdw). */
struct rds_wait {
	struct rq	*rq;		/* NULL once the request left */
	void		(*parse)(struct rq *, struct redisReply *);
	rq_fn		 next;
};

/* The handshake, in the order it is sent; the link is up after PING. */
enum rds_hello {
	RDS_HELLO_AUTH,
	RDS_HELLO_SELECT,
	RDS_HELLO_PING
};

static const char	*rds_hello_names[] = { "AUTH", "SELECT", "PING" };

/*
 * Commands we refuse: pub/sub and MONITOR turn the reply stream into
 * pushes our FIFO cannot follow; the others would undo the handshake
 * (or switch to RESP3, which hiredis 0.14 cannot read).
 */
static const char	*rds_refused[] = {
	"AUTH", "HELLO", "MONITOR", "PSUBSCRIBE", "PUNSUBSCRIBE", "QUIT",
	"RESET", "SELECT", "SSUBSCRIBE", "SUBSCRIBE", "SUNSUBSCRIBE",
	"UNSUBSCRIBE"
};

TAILQ_HEAD(rds_queue, rds_pending);

static struct rds_link		rds_link;
static struct rds_url		rds_url;
static struct rds_queue		rds_queue = TAILQ_HEAD_INITIALIZER(rds_queue);
static enum rds_state		rds_state = RDS_DOWN;
static int			rds_logged;	/* this outage was logged */
static int			rds_stopping;
static int			rds_backoff = RDS_BACKOFF_MIN_MS;
static struct kore_timer	*rds_retry;
static struct kore_timer	*rds_ticker;

static void	rds_connect(void);
static void	rds_drop(const char *);
static void	rds_event(void *, int);
static void	rds_reply(redisAsyncContext *, void *, void *);

/* URL parsing. */

static int
rds_url_err(char *err, size_t len, const char *msg)
{
	(void)snprintf(err, len, "%s", msg);
	return (-1);
}

static int
rds_hex(int c)
{
	if (c >= '0' && c <= '9')
		return (c - '0');
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return (c - 'a' + 10);
	return (-1);
}

/* Percent-decodes [p, end) into out; %00 is refused (AUTH takes C strings). */
static int
rds_pct(char *out, size_t len, const char *p, const char *end)
{
	size_t	n = 0;
	int	hi, lo;

	for (; p < end; p++) {
		if (n + 1 >= len)
			return (-1);
		if (*p != '%') {
			out[n++] = *p;
			continue;
		}
		if (end - p < 3 || (hi = rds_hex(p[1])) == -1 ||
		    (lo = rds_hex(p[2])) == -1 || (hi | lo) == 0)
			return (-1);
		out[n++] = (char)(hi << 4 | lo);
		p += 2;
	}
	out[n] = '\0';
	return (0);
}

/* A decimal number in [p, end), at most max, digits only. */
static int
rds_number(const char *p, const char *end, long max, int *out)
{
	long	v = 0;

	if (p == end)
		return (-1);
	for (; p < end; p++) {
		if (!isdigit((unsigned char)*p))
			return (-1);
		if ((v = v * 10 + (*p - '0')) > max)
			return (-1);
	}
	*out = (int)v;
	return (0);
}

/* host, host:port, [v6] or [v6]:port in [p, end). */
static int
rds_hostport(struct rds_url *u, const char *p, const char *end)
{
	const char	*hend, *port;
	size_t		 n;

	if (p < end && *p == '[') {
		if ((hend = memchr(p, ']', (size_t)(end - p))) == NULL)
			return (-1);
		port = hend + 1;
		p++;
	} else {
		if ((hend = memchr(p, ':', (size_t)(end - p))) == NULL)
			hend = end;
		port = hend;
	}
	if ((n = (size_t)(hend - p)) == 0 || n >= sizeof(u->host))
		return (-1);
	memcpy(u->host, p, n);
	u->host[n] = '\0';
	if (port == end)
		return (0);
	if (*port != ':' || rds_number(port + 1, end, 65535, &u->port) == -1)
		return (-1);
	return (u->port == 0 ? -1 : 0);
}

/*
 * redis://[user:password@ | :password@]host[:port][/db].  rediss:// and
 * query options are refused: hiredis 0.14 has neither TLS nor options.
 * Messages never quote the URL, which may carry the password.
 */
static int
rds_url_parse(const char *url, struct rds_url *u, char *err, size_t len)
{
	const char	*p, *end, *at, *colon;

	memset(u, 0, sizeof(*u));
	u->port = RDS_DEFAULT_PORT;
	if (strncmp(url, "redis://", 8) != 0)
		return (rds_url_err(err, len, "must start with redis://"));
	p = url + 8;
	end = p + strcspn(p, "/?#");
	if ((at = memrchr(p, '@', (size_t)(end - p))) != NULL) {
		if ((colon = memchr(p, ':', (size_t)(at - p))) == NULL)
			return (rds_url_err(err, len,
			    "credentials must be user:password or :password"));
		if (rds_pct(u->user, sizeof(u->user), p, colon) == -1 ||
		    rds_pct(u->pass, sizeof(u->pass), colon + 1, at) == -1 ||
		    u->pass[0] == '\0')
			return (rds_url_err(err, len,
			    "bad user or password (empty, too long, bad %xx)"));
		p = at + 1;
	}
	if (rds_hostport(u, p, end) == -1)
		return (rds_url_err(err, len, "bad host or port"));
	if (*end == '\0' || (end[0] == '/' && end[1] == '\0'))
		return (0);
	if (*end != '/' || rds_number(end + 1, end + strlen(end), 1 << 20,
	    &u->db) == -1)
		return (rds_url_err(err, len,
		    "the path must be a database number, no options"));
	return (0);
}

/* For the parent: refuse a bad CRM_REDIS_URL before any worker starts. */
int
rds_url_check(const char *url, char *err, size_t len)
{
	struct rds_url	u;
	int		r;

	r = rds_url_parse(url, &u, err, len);
	explicit_bzero(&u, sizeof(u));
	return (r);
}

/* State: logged and exported only when it changes. */

static void
rds_set_up(void)
{
	rds_state = RDS_UP;
	rds_logged = 0;
	rds_backoff = RDS_BACKOFF_MIN_MS;
	met_set_gauge(MET_G_REDIS_UP, 1);
	log_msg(LOG_LVL_INFO, "redis_up", "redis up (%s:%d, db %d)",
	    rds_url.host, rds_url.port, rds_url.db);
}

/*
 * One line per outage: the first failure says why, the reconnect attempts
 * that follow every few seconds are debug noise.
 */
static void
rds_set_down(const char *why)
{
	if (rds_state == RDS_DOWN)
		return;
	rds_state = RDS_DOWN;
	met_set_gauge(MET_G_REDIS_UP, 0);
	if (rds_logged) {
		log_msg(LOG_LVL_DEBUG, "redis_down", "redis down: %s", why);
		return;
	}
	rds_logged = 1;
	log_msg(rds_stopping ? LOG_LVL_INFO : LOG_LVL_WARN, "redis_down",
	    "redis down: %s", why);
}

/* Why hiredis gave up on ac, from its own error field. */
static const char *
rds_why(const redisAsyncContext *ac, const char *dflt)
{
	return (ac->c.err != 0 && ac->c.errstr[0] != '\0' ?
	    ac->c.errstr : dflt);
}

/* Reconnecting. */

static void
rds_retry_fire(void *arg, uint64_t now)
{
	rds_retry = NULL;	/* Kore frees a one-shot timer after this */
	rds_connect();
}

/* Equal jitter: half the backoff plus a random part of the other half. */
static void
rds_schedule(void)
{
	uint32_t	r = 0;
	int		delay;

	if (rds_stopping || rds_retry != NULL)
		return;
	(void)crm_random(&r, sizeof(r));
	delay = rds_backoff / 2 + (int)(r % (uint32_t)(rds_backoff / 2 + 1));
	rds_backoff = MIN(rds_backoff * 2, RDS_BACKOFF_MAX_MS);
	rds_retry = kore_timer_add(rds_retry_fire, (uint64_t)delay, NULL,
	    KORE_TIMER_ONESHOT);
}

/* The event-loop adapter: hiredis's five ev hooks. */

static void
rds_watch(struct rds_link *l)
{
	int	events = 0;

	if (l->reading)
		events |= EPOLLIN | EPOLLRDHUP;
	if (l->writing)
		events |= EPOLLOUT;
	if (events == l->mask || l->defer)
		return;
	if (events == 0)
		kore_platform_disable_read(l->fd);	/* EPOLL_CTL_DEL */
	else
		kore_platform_event_schedule(l->fd, events, 0, l);
	l->mask = events;
}

static void
rds_add_read(void *arg)
{
	struct rds_link	*l = arg;

	l->reading = 1;
	rds_watch(l);
}

static void
rds_del_read(void *arg)
{
	struct rds_link	*l = arg;

	l->reading = 0;
	rds_watch(l);
}

static void
rds_add_write(void *arg)
{
	struct rds_link	*l = arg;

	l->writing = 1;
	rds_watch(l);
}

static void
rds_del_write(void *arg)
{
	struct rds_link	*l = arg;

	l->writing = 0;
	rds_watch(l);
}

/*
 * hiredis is freeing the context (our drop, a read or write error, a
 * failed connect): every pending callback has already had its NULL reply,
 * and the fd is still open, so it leaves epoll before hiredis closes it.
 */
static void
rds_cleanup(void *arg)
{
	struct rds_link		*l = arg;
	struct rds_pending	*p;

	rds_set_down(rds_why(l->ac, "connection closed"));
	if (l->mask != 0)
		kore_platform_disable_read(l->fd);
	l->ac = NULL;
	l->fd = -1;
	l->mask = l->reading = l->writing = l->closing = 0;

	/* Cannot happen with 0.14's __redisAsyncFree(); exactly once anyway. */
	while ((p = TAILQ_FIRST(&rds_queue)) != NULL) {
		log_msg(LOG_LVL_ERROR, "redis_bug", "callback left pending");
		TAILQ_REMOVE(&rds_queue, p, list);
		p->cb(NULL, p->arg);
		xfree(p);
	}
	rds_schedule();
}

static void
rds_attach(redisAsyncContext *ac)
{
	struct rds_link	*l = &rds_link;

	l->ac = ac;
	l->fd = ac->c.fd;
	l->mask = l->writing = l->closing = 0;
	l->reading = 1;		/* hear a hangup before the first reply */
	ac->ev.data = l;
	ac->ev.addRead = rds_add_read;
	ac->ev.delRead = rds_del_read;
	ac->ev.addWrite = rds_add_write;
	ac->ev.delWrite = rds_del_write;
	ac->ev.cleanup = rds_cleanup;
	rds_watch(l);
}

/*
 * EPOLLERR, EPOLLHUP or EPOLLRDHUP.  Replies the server wrote before it
 * went are still in the socket: read them (hiredis then meets the EOF and
 * tears the context down itself), and drop what is left after that.
 */
static void
rds_hangup(struct rds_link *l, redisAsyncContext *ac)
{
	int	i;

	for (i = 0; i < RDS_HANGUP_READS && l->ac == ac; i++)
		redisAsyncHandleRead(ac);
	if (l->ac == ac)
		rds_drop("connection lost");
}

/*
 * Kore ORs KORE_EVENT_READ/WRITE into evt.flags and never clears them.
 * Any hiredis call may free ac (a callback, an error, a failed connect):
 * after each one, l->ac != ac means it is gone and must not be touched.
 */
static void
rds_event(void *arg, int err)
{
	struct rds_link		*l = arg;
	redisAsyncContext	*ac = l->ac;
	int			 flags = l->evt.flags;

	l->evt.flags &= ~(KORE_EVENT_READ | KORE_EVENT_WRITE);
	if (ac == NULL || l->closing)
		return;
	if (err) {
		rds_hangup(l, ac);
		return;
	}
	if (flags & KORE_EVENT_READ) {
		redisAsyncHandleRead(ac);
		if (l->ac != ac)
			return;
	}
	if (flags & KORE_EVENT_WRITE)
		redisAsyncHandleWrite(ac);
}

/* Commands and the FIFO of pending ones. */

/*
 * Writes a new command at once instead of asking epoll whether the socket
 * is writable first: hiredis would add EPOLLOUT, wait a turn of the loop,
 * write, and take EPOLLOUT off again, two epoll_ctl() calls each way (the
 * ADD fails with EEXIST before the MOD) for a 250-byte write that the
 * socket nearly always takes whole.  redisBufferWrite() is the plain
 * write: on a short write or an error it leaves the rest (and c->err) for
 * redisAsyncHandleWrite() from the event loop, which is where an error may
 * free the context and run callbacks, never inside a caller of rds_send().
 * Before the connect completes the socket is left to hiredis.
 */
static void
rds_flush(struct rds_link *l)
{
	int	done = 0;

	if ((l->ac->c.flags & REDIS_CONNECTED) &&
	    redisBufferWrite(&l->ac->c, &done) == REDIS_OK && done)
		l->writing = 0;
	l->defer = 0;
	rds_watch(l);
}

/* Queues one command on the current context; -1 if hiredis refused it. */
static int
rds_send(rds_cb cb, void *arg, int argc, const char **argv,
    const size_t *lens)
{
	struct rds_pending	*p;

	p = xmalloc(sizeof(*p));
	p->cb = cb;
	p->arg = arg;
	p->deadline = kore_time_ms() + RDS_TIMEOUT_MS;
	TAILQ_INSERT_TAIL(&rds_queue, p, list);
	rds_link.defer = 1;
	if (redisAsyncCommandArgv(rds_link.ac, rds_reply, p, argc, argv,
	    lens) != REDIS_OK) {
		rds_link.defer = 0;
		rds_watch(&rds_link);
		TAILQ_REMOVE(&rds_queue, p, list);
		xfree(p);
		return (-1);
	}
	rds_flush(&rds_link);
	return (0);
}

/*
 * hiredis calls this once per command.  A NULL reply only ever comes from
 * a context being freed, so the link is down before the caller sees it:
 * a callback that tries again fails fast instead of queueing on a corpse.
 */
static void
rds_reply(redisAsyncContext *ac, void *r, void *privdata)
{
	struct rds_pending	*p = privdata;

	TAILQ_REMOVE(&rds_queue, p, list);
	if (r == NULL)
		rds_set_down(rds_why(ac, "connection closed"));
	p->cb(r, p->arg);
	xfree(p);
}

/* Overdue means Redis is stuck or the network is: treat it as down. */
static void
rds_tick(void *arg, uint64_t now)
{
	struct rds_pending	*p;
	char			 why[64];

	if ((p = TAILQ_FIRST(&rds_queue)) == NULL || now < p->deadline)
		return;
	(void)snprintf(why, sizeof(why), "%s: no reply in %d ms",
	    rds_state == RDS_UP ? "timeout" : "connect timeout",
	    RDS_TIMEOUT_MS);
	rds_drop(why);
}

/*
 * Give up on the connection.  hiredis calls every pending callback with
 * NULL and then rds_cleanup(), which schedules the reconnect; called from
 * inside a callback it does so as soon as that callback returns.
 */
static void
rds_drop(const char *why)
{
	rds_set_down(why);
	if (rds_link.ac == NULL || rds_link.closing)
		return;
	rds_link.closing = 1;
	redisAsyncFree(rds_link.ac);
}

/* Handshake replies: "+OK" for AUTH and SELECT, "+PONG" for PING. */
static void
rds_hello_reply(struct redisReply *r, void *arg)
{
	int		 step = (int)(intptr_t)arg;
	const char	*want = step == RDS_HELLO_PING ? "PONG" : "OK";
	char		 why[160];

	if (r == NULL)
		return;		/* the context is going: rds_cleanup() */
	if (r->type != REDIS_REPLY_STATUS || strcmp(r->str, want) != 0) {
		/* Redis's error text names no secret; bounded anyway. */
		(void)snprintf(why, sizeof(why), "%s failed: %.120s",
		    rds_hello_names[step], r->type == REDIS_REPLY_ERROR ?
		    r->str : "unexpected reply");
		rds_drop(why);
		return;
	}
	if (step == RDS_HELLO_PING && rds_state == RDS_CONNECTING)
		rds_set_up();
}

static int
rds_hello_send(enum rds_hello step, int argc, const char **argv)
{
	size_t	lens[3];
	int	i;

	for (i = 0; i < argc; i++)
		lens[i] = strlen(argv[i]);
	if (rds_send(rds_hello_reply, (void *)(intptr_t)step, argc, argv,
	    lens) == -1) {
		rds_drop("could not queue the handshake");
		return (-1);
	}
	return (0);
}

/*
 * Queued at once: hiredis writes them in order when the connect
 * completes, ahead of anything else (rds_cmd() refuses until PING).
 */
static void
rds_hello(void)
{
	const char	*argv[3];
	char		 db[16];
	int		 n = 0;

	if (rds_url.pass[0] != '\0') {
		argv[n++] = "AUTH";
		if (rds_url.user[0] != '\0')
			argv[n++] = rds_url.user;
		argv[n++] = rds_url.pass;
		if (rds_hello_send(RDS_HELLO_AUTH, n, argv) == -1)
			return;
	}
	if (rds_url.db != 0) {
		(void)snprintf(db, sizeof(db), "%d", rds_url.db);
		argv[0] = "SELECT";
		argv[1] = db;
		if (rds_hello_send(RDS_HELLO_SELECT, 2, argv) == -1)
			return;
	}
	argv[0] = "PING";
	(void)rds_hello_send(RDS_HELLO_PING, 1, argv);
}

/*
 * Non-blocking connect.  With a host name hiredis resolves it here with
 * getaddrinfo(), which blocks: use an address in CRM_REDIS_URL.
 */
static void
rds_connect(void)
{
	redisAsyncContext	*ac;

	rds_state = RDS_CONNECTING;
	if ((ac = redisAsyncConnect(rds_url.host, rds_url.port)) == NULL) {
		rds_set_down("out of memory");
		rds_schedule();
		return;
	}
	if (ac->err) {
		rds_set_down(rds_why(ac, "connect failed"));
		redisAsyncFree(ac);	/* no hooks yet: just closes */
		rds_schedule();
		return;
	}
	rds_attach(ac);
	rds_hello();
}

/* The interface (srv.h). */

void
rds_worker_init(void)
{
	char	err[128];

	met_set_gauge(MET_G_REDIS_UP, 0);
	if (crm_conf.redis_url == NULL || crm_conf.redis_url[0] == '\0') {
		log_msg(LOG_LVL_WARN, "redis_down",
		    "redis down: CRM_REDIS_URL is empty");
		return;
	}
	if (rds_url_parse(crm_conf.redis_url, &rds_url, err,
	    sizeof(err)) == -1) {
		log_msg(LOG_LVL_ERROR, "redis_down",
		    "redis down: CRM_REDIS_URL: %s", err);
		return;
	}
	rds_link.evt.type = RDS_EVT_TYPE;
	rds_link.evt.handle = rds_event;
	rds_link.fd = -1;
	rds_ticker = kore_timer_add(rds_tick, RDS_TICK_MS, NULL, 0);
	rds_connect();
}

/* Pending callbacks get their NULL now, while requests still exist. */
void
rds_worker_teardown(void)
{
	rds_stopping = 1;
	if (rds_retry != NULL) {
		kore_timer_remove(rds_retry);
		rds_retry = NULL;
	}
	if (rds_ticker != NULL) {
		kore_timer_remove(rds_ticker);
		rds_ticker = NULL;
	}
	rds_drop("shutting down");
	explicit_bzero(&rds_url, sizeof(rds_url));
}

int
rds_up(void)
{
	return (rds_state == RDS_UP);
}

/* Refusing a command is a bug in the caller, not a Redis outage. */
static void
rds_check_cmd(int argc, const char **argv, const size_t *lens)
{
	size_t	i, len;

	if (argc < 1)
		crm_fatal("rds_cmd: no command");
	len = lens != NULL ? lens[0] : strlen(argv[0]);
	for (i = 0; i < sizeof(rds_refused) / sizeof(rds_refused[0]); i++) {
		if (strlen(rds_refused[i]) == len &&
		    strncasecmp(argv[0], rds_refused[i], len) == 0)
			crm_fatal("rds_cmd: %s is not allowed here",
			    rds_refused[i]);
	}
}

/*
 * Sends one command; cb(reply, arg) runs exactly once, later, from the
 * event loop: with the reply, or with NULL when Redis is down, too slow
 * (RDS_TIMEOUT_MS) or the worker stops.  The reply is hiredis's and is
 * freed when cb returns: copy what you keep.  Returns -1 without calling
 * anything when the link is not up.  lens may be NULL (C strings).
 */
int
rds_cmd(rds_cb cb, void *arg, int argc, const char **argv,
    const size_t *lens)
{
	rds_check_cmd(argc, argv, lens);
	if (rds_state != RDS_UP)
		return (-1);
	return (rds_send(cb, arg, argc, argv, lens));
}

static void
rds_rq_reply(struct redisReply *r, void *arg)
{
	struct rds_wait	*w = arg;
	struct rq	*rq = w->rq;

	if (rq != NULL) {
		rq->rdw = NULL;
		w->parse(rq, r);
		rq->next = w->next;
		pipe_wake(rq);
	}
	xfree(w);
}

/*
 * The request-bound form.  parse(rq, reply) runs with the reply or NULL,
 * and must copy what it keeps; then the pipeline resumes with next.
 * Returns RQ_WAIT with the request asleep.  When Redis is down it does not
 * park: parse(rq, NULL) runs at once and the result of next(rq) is
 * returned, so callers have one code path.  One command per request at a
 * time.
 */
int
rds_cmd_rq(struct rq *rq, void (*parse)(struct rq *, struct redisReply *),
    rq_fn next, int argc, const char **argv, const size_t *lens)
{
	struct rds_wait	*w;

	if (rq->rdw != NULL)
		crm_fatal("rds_cmd_rq: request %s already waits on redis",
		    rq->id);
	w = xmalloc(sizeof(*w));
	w->rq = rq;
	w->parse = parse;
	w->next = next;
	if (rds_cmd(rds_rq_reply, w, argc, argv, lens) == -1) {
		xfree(w);
		parse(rq, NULL);
		return (next(rq));
	}
	rq->rdw = w;
	rq->next = next;	/* crm_dispatch() insists on it when parked */
	http_request_sleep(rq->req);
	return (RQ_WAIT);
}

/* The request is going away: its reply, when it comes, is dropped. */
void
rds_rq_free(struct rq *rq)
{
	if (rq->rdw != NULL) {
		rq->rdw->rq = NULL;
		rq->rdw = NULL;
	}
}
