/*
 * kdf.c: password hashing off the event loop.
 *
 * One argon2id run takes ~85 ms of CPU (app/pw.c); on the event loop it
 * would stall every connection of the worker.  So each hash or verify is a
 * Kore task run by one of the worker's task threads (task_threads in the
 * config caps the concurrency, and so the memory: threads x 46 MiB).  A
 * queue longer than KDF_QUEUE_MAX is shed with 503 rather than letting
 * logins pile up behind each other.
 *
 * Lifetimes: the job belongs to the task until the thread is done with it;
 * the completion callback runs on the event loop and hands the result to
 * the request, or frees the job if the request has gone away.
 */

#include <stddef.h>
#include <string.h>

#include "srv.h"
#include "auth.h"

#include <kore/tasks.h>

#define KDF_QUEUE_MAX	64

struct kdf_job {
	struct kore_task	 task;
	struct rq		*rq;		/* NULL once the request left */
	rq_fn			 next;
	int			 verify;
	char			*pw;
	size_t			 pwlen;
	char			*hash;		/* verify: input; hash: output */
	int			 ok;
	int			 done;		/* kdf_done() has run */
};

static int	kdf_pending;

static struct kdf_job *
kdf_job_of(struct kore_task *t)
{
	return ((struct kdf_job *)((char *)t - offsetof(struct kdf_job, task)));
}

static void
kdf_job_free(struct kdf_job *j)
{
	if (j->pw != NULL) {
		OPENSSL_cleanse(j->pw, j->pwlen);
		xfree(j->pw);
	}
	xfree(j->hash);
	xfree(j);
}

/* Runs in a task thread: no Kore calls, no shared state but the job. */
static int
kdf_run(struct kore_task *t)
{
	struct kdf_job	*j = kdf_job_of(t);
	char		 out[PW_ENCODED_MAX];

	if (!j->verify) {
		j->ok = pw_hash(j->pw, j->pwlen, out) == 0;
		if (j->ok)
			j->hash = xstrdup(out);
	} else if (j->hash == NULL) {
		pw_dummy_verify(j->pw, j->pwlen);
		j->ok = 0;
	} else {
		j->ok = pw_verify(j->hash, j->pw, j->pwlen) == 0;
	}
	return (KORE_RESULT_OK);
}

/* Back on the event loop. */
static void
kdf_done(struct kore_task *t)
{
	struct kdf_job	*j = kdf_job_of(t);
	struct rq	*rq = j->rq;

	if (kore_task_state(t) != KORE_TASK_STATE_FINISHED)
		return;
	kdf_pending--;
	kore_task_destroy(t);
	j->done = 1;
	if (rq == NULL) {
		kdf_job_free(j);
		return;
	}
	rq->next = j->next;
	pipe_wake(rq);
}

static int
kdf_start(struct rq *rq, int verify, const char *hash, const char *pw,
    size_t len, rq_fn next)
{
	struct kdf_job	*j;

	if (rq->kdf != NULL)
		crm_fatal("kdf: request %s already has a job", rq->id);
	if (kdf_pending >= KDF_QUEUE_MAX) {
		reply_header(rq, "retry-after", "1");
		return (reply_problem(rq, PROB_UNAVAILABLE,
		    "too many logins at once; retry shortly"));
	}
	j = xcalloc(1, sizeof(*j));
	j->rq = rq;
	j->next = next;
	j->verify = verify;
	j->pw = xstrndup(pw, len);
	j->pwlen = len;
	j->hash = hash != NULL ? xstrdup(hash) : NULL;
	rq->kdf = j;
	kdf_pending++;
	kore_task_create(&j->task, kdf_run);
	kore_task_bind_callback(&j->task, kdf_done);
	rq->next = next;
	http_request_sleep(rq->req);
	kore_task_run(&j->task);
	return (RQ_WAIT);
}

/* Hash a new password; kdf_hash_result() has it when next runs. */
int
kdf_hash(struct rq *rq, const char *pw, size_t len, rq_fn next)
{
	return (kdf_start(rq, 0, NULL, pw, len, next));
}

/*
 * Verify against an encoded hash.  A NULL hash runs a dummy verify of the
 * same cost and fails, so an unknown e-mail takes as long as a wrong
 * password (SECURITY.md AUTH-12).
 */
int
kdf_verify(struct rq *rq, const char *hash, const char *pw, size_t len,
    rq_fn next)
{
	return (kdf_start(rq, 1, hash, pw, len, next));
}

int
kdf_ok(struct rq *rq)
{
	return (rq->kdf != NULL && rq->kdf->ok);
}

const char *
kdf_hash_result(struct rq *rq)
{
	return (rq->kdf != NULL && !rq->kdf->verify ? rq->kdf->hash : NULL);
}

/* Done with the result: the next KDF call on this request may start. */
void
kdf_release(struct rq *rq)
{
	if (rq->kdf != NULL)
		kdf_job_free(rq->kdf);
	rq->kdf = NULL;
}

/*
 * The request is going away.  A job whose callback has not run yet still
 * belongs to its task: detach it, and kdf_done() frees it.
 */
void
kdf_rq_free(struct rq *rq)
{
	struct kdf_job	*j = rq->kdf;

	if (j == NULL)
		return;
	rq->kdf = NULL;
	if (j->done)
		kdf_job_free(j);
	else
		j->rq = NULL;
}
