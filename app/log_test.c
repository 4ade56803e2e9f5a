/*
 * log_test.c: unit tests for log.c: each line is one valid JSON object
 * with the documented members, levels filter, and odd bytes stay valid.
 * Stdout is pointed at a temporary file while lines are written.
 */

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crm.h"
#include "ut.h"

static char	log_path[] = "/tmp/crm_log_test.XXXXXX";

/* Runs fn with fd 1 on a fresh file; returns what it wrote. */
static char *
capture(void (*fn)(void), size_t *lenp)
{
	int		 fd, saved;
	off_t		 len;
	char		*out;

	fflush(stdout);
	if ((fd = mkstemp(log_path)) == -1)
		crm_fatal("mkstemp failed");
	saved = dup(STDOUT_FILENO);
	dup2(fd, STDOUT_FILENO);
	fn();
	dup2(saved, STDOUT_FILENO);
	close(saved);

	len = lseek(fd, 0, SEEK_END);
	out = xmalloc((size_t)len + 1);
	if (pread(fd, out, (size_t)len, 0) != len)
		crm_fatal("pread failed");
	out[len] = '\0';
	close(fd);
	unlink(log_path);
	memcpy(log_path + strlen(log_path) - 6, "XXXXXX", 6);
	*lenp = (size_t)len;
	return (out);
}

static void
write_lines(void)
{
	log_set_level("info");
	log_msg(LOG_LVL_DEBUG, "hidden", "not shown");
	log_msg(LOG_LVL_INFO, "started", "port %d", 8080);
	log_msg(LOG_LVL_ERROR, "db_error", "bad \"%s\"\n\x01\xff\xe2\x80\xa8",
	    "q\\");
	log_set_level("error");
	log_msg(LOG_LVL_WARN, "hidden", "warn hidden");
	log_set_level("debug");
	log_msg(LOG_LVL_DEBUG, "dbg", "%s", "");
	log_set_level("bogus");		/* keeps debug */
	log_msg(LOG_LVL_DEBUG, "dbg2", "x");
	log_set_level("info");
}

static void
test_lines(void)
{
	char		*out, *line, *save = NULL;
	size_t		 len;
	json_t		*j[8];
	int		 n = 0, i;
	const char	*ts;

	out = capture(write_lines, &len);
	UT_CHECK(len > 0 && out[len - 1] == '\n');
	UT_CHECK(strstr(out, "hidden") == NULL);
	for (line = strtok_r(out, "\n", &save); line != NULL && n < 8;
	    line = strtok_r(NULL, "\n", &save))
		j[n++] = js_parse(line, strlen(line), NULL);
	UT_EQ_INT(n, 4);
	for (i = 0; i < n; i++) {
		UT_CHECK(json_is_object(j[i]));
		UT_EQ_INT(json_object_size(j[i]), 5);
		UT_EQ_INT(json_integer_value(json_object_get(j[i], "pid")),
		    getpid());
		ts = js_get_str(j[i], "ts");
		UT_CHECK(ts != NULL && strlen(ts) == 24 && ts[10] == 'T' &&
		    ts[19] == '.' && ts[23] == 'Z');
	}
	if (n == 4) {
		UT_EQ_STR(js_get_str(j[0], "level"), "info");
		UT_EQ_STR(js_get_str(j[0], "event"), "started");
		UT_EQ_STR(js_get_str(j[0], "msg"), "port 8080");
		UT_EQ_STR(js_get_str(j[1], "level"), "error");
		UT_EQ_STR(js_get_str(j[1], "msg"),
		    "bad \"q\\\"\n\x01\xef\xbf\xbd\xe2\x80\xa8");
		UT_EQ_STR(js_get_str(j[2], "msg"), "");
		UT_EQ_STR(js_get_str(j[3], "event"), "dbg2");
	}
	for (i = 0; i < n; i++)
		json_decref(j[i]);
	xfree(out);
}

static void
test_ts(void)
{
	struct buf	b = { NULL, 0, 0 };

	log_ts(&b);
	UT_EQ_INT(b.len, strlen("\"ts\":\"2026-11-23T10:15:00.123Z\""));
	UT_CHECK(strncmp(b.data, "\"ts\":\"20", 8) == 0);
	buf_free(&b);
}

int
main(void)
{
	UT_TEST(test_lines);
	UT_TEST(test_ts);
	return (ut_summary());
}
