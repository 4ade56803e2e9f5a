/*
 * main.c: the Kore hooks, where the service starts and stops.
 *
 * The parent reads and validates the configuration once (workers inherit
 * it) and maps the shared metrics; each worker then opens its own
 * PostgreSQL pool and Redis connection.  The seccomp filter below adds to
 * Kore's default worker filter exactly the system calls our libraries
 * make (libpq, hiredis, OpenSSL, glibc's stat family).
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "srv.h"

#include <kore/seccomp.h>

#define CRM_DRAIN_MS	8000

/*
 * clone3 gets ENOSYS: seccomp cannot look inside its argument struct, and
 * glibc then falls back to clone(), whose flags Kore's task filter checks.
 * rseq must be allowed: glibc aborts a new thread that cannot register it
 * once the main thread has (the KDF task threads).
 */
KORE_SECCOMP_FILTER("crm",
	KORE_SYSCALL_DENY(clone3, ENOSYS),
	KORE_SYSCALL_ALLOW(rseq),
	KORE_SYSCALL_ALLOW(set_robust_list),
	KORE_SYSCALL_ALLOW(tgkill),
	KORE_SYSCALL_ALLOW(tgkill),
	KORE_SYSCALL_ALLOW(tgkill),
	KORE_SYSCALL_ALLOW(gettid),
	KORE_SYSCALL_ALLOW(newfstatat),
	KORE_SYSCALL_ALLOW(socket),
	KORE_SYSCALL_ALLOW(connect),
	KORE_SYSCALL_ALLOW(getsockopt),
	KORE_SYSCALL_ALLOW(getsockname),
	KORE_SYSCALL_ALLOW(getpeername),
	KORE_SYSCALL_ALLOW(sendmsg),
	KORE_SYSCALL_ALLOW(recvmsg),
	KORE_SYSCALL_ALLOW(uname),
	KORE_SYSCALL_ALLOW(pipe2),
	KORE_SYSCALL_ALLOW(getrandom),
	KORE_SYSCALL_ALLOW(clock_gettime),
	KORE_SYSCALL_ALLOW(gettimeofday),
	KORE_SYSCALL_ALLOW(getppid),
	KORE_SYSCALL_ALLOW(sysinfo),
	KORE_SYSCALL_ALLOW(prlimit64),
	KORE_SYSCALL_ALLOW(sched_yield),
	KORE_SYSCALL_ALLOW(shutdown),
	KORE_SYSCALL_ALLOW(mremap),
	KORE_SYSCALL_ALLOW(getdents64),
	/* imports: the uploaded CSV is made durable before its job */
	KORE_SYSCALL_ALLOW(fsync)
);

void	kore_parent_configure(int, char **);
void	kore_worker_configure(void);
void	kore_worker_teardown(void);

void
kore_parent_configure(int argc, char **argv)
{
	char	err[256];
	size_t	i;

	if (conf_load(err, sizeof(err)) == -1) {
		fprintf(stderr, "crm: configuration: %s\n", err);
		exit(1);
	}
	if (crm_conf.database_url[0] == '\0') {
		fprintf(stderr, "crm: configuration: CRM_DATABASE_URL is "
		    "required\n");
		exit(1);
	}
	if (rds_url_check(crm_conf.redis_url, err, sizeof(err)) == -1) {
		fprintf(stderr, "crm: configuration: CRM_REDIS_URL: %s\n", err);
		exit(1);
	}
	log_set_level(crm_conf.log_level);
	met_parent_init();
	for (i = 0; crm_modules[i] != NULL; i++) {
		if (crm_modules[i]->parent_init != NULL)
			crm_modules[i]->parent_init();
	}
	log_msg(LOG_LVL_INFO, "start", "crm %s starting", CRM_VERSION);
}

void
kore_worker_configure(void)
{
	size_t	i;

	met_worker_start();
	pipe_worker_init();
	db_worker_init();
	rds_worker_init();
	lim_worker_init();
	for (i = 0; crm_modules[i] != NULL; i++) {
		if (crm_modules[i]->worker_init != NULL)
			crm_modules[i]->worker_init();
	}
	oapi_worker_init();	/* describes what the modules registered */
	tlsfix_worker_init();
}

/*
 * Kore leaves its loop as soon as SIGTERM arrives.  Finish what is in
 * flight first (bounded: an orchestrator's grace period is ~10 s); this
 * worker has already given up the accept lock, so no new connection comes.
 */
void
kore_worker_teardown(void)
{
	uint64_t	end;

	end = kore_time_ms() + CRM_DRAIN_MS;
	while (http_request_count > 0 && kore_time_ms() < end) {
		kore_platform_event_wait(10);
		kore_timer_run(kore_time_ms());
		http_process();
	}
	if (http_request_count > 0)
		log_msg(LOG_LVL_WARN, "shutdown", "%u requests cut off",
		    http_request_count);
	rds_worker_teardown();
}
