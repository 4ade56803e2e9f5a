/*
 * log.c: one JSON object per line on stdout.
 *
 * Each line goes out in a single write(2) on fd 1, so lines from Kore's
 * workers, crmctl and crm-worker sharing a pipe never interleave (a pipe
 * write of up to PIPE_BUF bytes is atomic; longer lines stay whole in files
 * opened with O_APPEND and in journald).  Strings go through js_escape(),
 * so a line is valid JSON whatever bytes a message carries.
 *
 * Left to others: what is logged.  Callers never log secrets or bodies
 * (SECURITY.md T17); access lines are built by reply.c with log_ts() and
 * log_line().
 */

#include <sys/types.h>

#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "crm.h"

static int		log_level = LOG_LVL_INFO;

static const char	*log_names[] = { "debug", "info", "warn", "error" };

/* Unknown names keep the current level: conf.c has already checked. */
void
log_set_level(const char *name)
{
	int		i;

	for (i = LOG_LVL_DEBUG; i <= LOG_LVL_ERROR; i++) {
		if (strcmp(name, log_names[i]) == 0)
			log_level = i;
	}
}

/* Appends "ts":"2026-11-23T10:15:00.123Z", UTC with milliseconds. */
void
log_ts(struct buf *b)
{
	struct timespec	ts;
	struct tm	tm;
	char		date[32];

	(void)clock_gettime(CLOCK_REALTIME, &ts);
	(void)gmtime_r(&ts.tv_sec, &tm);
	(void)strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
	buf_appendf(b, "\"ts\":\"%s.%03ldZ\"", date, ts.tv_nsec / 1000000);
}

/*
 * Writes b and a newline in one write(2).  A short write (a full pipe, a
 * signal) is finished by more writes: a torn line beats a lost one.  Errors
 * are dropped, there is nowhere left to report them.  b is left as it was.
 */
void
log_line(struct buf *b)
{
	const char	*p;
	size_t		 left;
	ssize_t		 n;

	buf_appendc(b, '\n');
	p = b->data;
	left = b->len;
	while (left > 0) {
		if ((n = write(STDOUT_FILENO, p, left)) == -1) {
			if (errno == EINTR)
				continue;
			break;
		}
		p += n;
		left -= (size_t)n;
	}
	b->data[--b->len] = '\0';
}

void
log_msg(int level, const char *event, const char *fmt, ...)
{
	struct buf	b, msg = { NULL, 0, 0 };
	va_list		args;

	if (level < log_level)
		return;
	if (level < LOG_LVL_DEBUG || level > LOG_LVL_ERROR)
		level = LOG_LVL_ERROR;

	va_start(args, fmt);
	buf_appendv(&msg, fmt, args);
	va_end(args);

	buf_init(&b, 128 + msg.len);
	buf_appendc(&b, '{');
	log_ts(&b);
	buf_appendf(&b, ",\"level\":\"%s\",\"event\":", log_names[level]);
	js_escape(&b, event, strlen(event));
	buf_appends(&b, ",\"msg\":");
	js_escape(&b, msg.data, msg.len);
	buf_appendf(&b, ",\"pid\":%ld}", (long)crm_pid());
	log_line(&b);

	buf_free(&msg);
	buf_free(&b);
}
