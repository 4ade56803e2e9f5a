/*
 * uuid7_test.c: unit tests for uuid7.c: layout (RFC 9562), ordering within
 * a process and across a fork, text form and parsing.
 */

#include <sys/types.h>
#include <sys/wait.h>

#include <string.h>
#include <unistd.h>

#include "crm.h"
#include "ut.h"

#define NIDS	100000

static void
test_layout(void)
{
	uint8_t		u[UUID_LEN];
	uint64_t	before, after, ts = 0;
	int		i, vbad = 0;

	before = crm_now_ms();
	uuid7_new(u);
	after = crm_now_ms();
	for (i = 0; i < 6; i++)
		ts = ts << 8 | u[i];
	UT_CHECK(ts >= before && ts <= after + 1);
	UT_EQ_INT(u[6] >> 4, 7);
	UT_EQ_INT(u[8] >> 6, 2);

	for (i = 0; i < 1000; i++) {
		uuid7_new(u);
		if (u[6] >> 4 != 7 || u[8] >> 6 != 2)
			vbad++;
	}
	UT_EQ_INT(vbad, 0);
}

static void
test_monotonic(void)
{
	char		(*ids)[UUID_STRLEN + 1];
	int		i, bad = 0;

	ids = xcalloc(NIDS, sizeof(*ids));
	for (i = 0; i < NIDS; i++)
		uuid7_new_str(ids[i]);
	for (i = 1; i < NIDS; i++) {
		if (strcmp(ids[i - 1], ids[i]) >= 0)
			bad++;
	}
	UT_EQ_INT(bad, 0);
	UT_EQ_INT(strlen(ids[0]), UUID_STRLEN);
	xfree(ids);
}

/*
 * A forked child must not replay the parent's buffered randomness: ids
 * made in the same millisecond by parent and child must still differ.
 */
static void
test_fork(void)
{
	char		mine[UUID_STRLEN + 1], theirs[UUID_STRLEN + 1];
	int		fds[2], status;
	pid_t		pid;

	uuid7_new_str(mine);	/* fills the pool before the fork */
	UT_CHECK(pipe(fds) == 0);
	if ((pid = fork()) == 0) {
		uuid7_new_str(theirs);
		(void)write(fds[1], theirs, UUID_STRLEN);
		_exit(0);
	}
	uuid7_new_str(mine);
	memset(theirs, 0, sizeof(theirs));
	UT_EQ_INT(read(fds[0], theirs, UUID_STRLEN), UUID_STRLEN);
	(void)waitpid(pid, &status, 0);
	close(fds[0]);
	close(fds[1]);
	UT_CHECK(memcmp(mine + 19, theirs + 19, 17) != 0);
}

static void
test_roundtrip(void)
{
	uint8_t		u[UUID_LEN], v[UUID_LEN];
	char		s[UUID_STRLEN + 1];
	int		i;

	for (i = 0; i < 100; i++) {
		uuid7_new(u);
		uuid7_fmt(u, s);
		UT_CHECK(uuid7_parse(s, v) == 0 && memcmp(u, v, UUID_LEN) == 0);
	}
	UT_CHECK(s[8] == '-' && s[13] == '-' && s[18] == '-' && s[23] == '-');
	UT_CHECK(s[14] == '7');

	memset(u, 0xab, sizeof(u));
	uuid7_fmt(u, s);
	UT_EQ_STR(s, "abababab-abab-abab-abab-abababababab");

	/* Any version, either case; formatting is lowercase. */
	UT_EQ_INT(uuid7_parse("123E4567-E89B-12D3-A456-426614174000", v), 0);
	uuid7_fmt(v, s);
	UT_EQ_STR(s, "123e4567-e89b-12d3-a456-426614174000");
	UT_EQ_INT(uuid7_parse("00000000-0000-0000-0000-000000000000", v), 0);
	UT_EQ_INT(uuid7_parse("ffffffff-ffff-ffff-ffff-ffffffffffff", v), 0);
}

static void
test_parse_bad(void)
{
	static const char *const	bad[] = {
		"",
		"0",
		"123e4567-e89b-12d3-a456-42661417400",
		"123e4567-e89b-12d3-a456-4266141740000",
		"123e4567-e89b-12d3-a456-426614174000 ",
		" 123e4567-e89b-12d3-a456-426614174000",
		"123e4567e89b12d3a456426614174000",
		"123e4567-e89b-12d3-a456_426614174000",
		"123e4567-e89b-12d3a-456-426614174000",
		"123e456-7e89b-12d3-a456-426614174000",
		"123e4567-e89b-12d3-a456-42661417400g",
		"g23e4567-e89b-12d3-a456-426614174000",
		"{123e4567-e89b-12d3-a456-426614174000}",
		"urn:uuid:123e4567-e89b-12d3-a456-4266",
		"123e4567-e89b-12d3-a456-4266141740\xc3\xa9",
		"+23e4567-e89b-12d3-a456-426614174000",
		"123e4567--89b-12d3-a456-426614174000",
	};
	uint8_t				u[UUID_LEN];
	size_t				i;
	int				accepted = 0;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (uuid7_parse(bad[i], u) != -1) {
			fprintf(stderr, "     accepted \"%s\"\n", bad[i]);
			accepted++;
		}
	}
	UT_EQ_INT(accepted, 0);
}

int
main(void)
{
	UT_TEST(test_layout);
	UT_TEST(test_monotonic);
	UT_TEST(test_fork);
	UT_TEST(test_roundtrip);
	UT_TEST(test_parse_bad);
	return (ut_summary());
}
