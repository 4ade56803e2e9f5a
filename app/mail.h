/*
 * mail.h: e-mail without Kore (docs/email.md).  The request path checks
 * templates and addresses with it, crm-worker builds and renders with it.
 *
 *	mail.c		mail_   RFC 5322 / MIME messages, encodings
 *	mailtpl.c	mtpl_   templates: merge fields, built-in templates
 *	jobmail.c	jmail_  the worker's half: render, build, SMTP (jobdb.h)
 */

#ifndef CRM_MAIL_H
#define CRM_MAIL_H

#include <time.h>

#include "crm.h"

#define MAIL_ADDR_MAX		254
#define MAIL_SUBJECT_MAX	300
#define MAIL_BODY_MAX		(256 * 1024)

/* mail.c */
struct mail_msg {
	const char	*from;		/* addr-spec */
	const char	*from_name;	/* display name, NULL for none */
	const char	*to;		/* addr-spec */
	const char	*reply_to;	/* addr-spec or NULL */
	const char	*subject;
	const char	*text;		/* the text/plain part */
	const char	*html;		/* NULL: a text-only message */
	const char	*id;		/* Message-ID's left part (the job id) */
	time_t		 date;
	const char	*boundary;	/* NULL: a random one */
};

int	 mail_addr_ok(const char *);		/* 1 a plain addr-spec */
const char	*mail_domain(const char *);	/* after the '@' */
void	 mail_qp(struct buf *, const char *, size_t);
void	 mail_header(struct buf *, const char *, const char *);
void	 mail_date(struct buf *, time_t);
int	 mail_build(const struct mail_msg *, struct buf *, const char **);

/* mailtpl.c */
#define MTPL_OK		0
#define MTPL_UNKNOWN	-1	/* a {{name}} we do not know; bad names it */
#define MTPL_SYNTAX	-2	/* "{{" without its "}}" or an empty name */

struct mtpl_builtin {
	const char	*key;
	const char	*subject;
	const char	*text;
	const char	*html;
};

const struct mtpl_builtin	*mtpl_builtin(const char *);
const struct mtpl_builtin	*mtpl_builtin_at(size_t);
int	 mtpl_field_known(const char *, size_t);
const char	*mtpl_field_at(size_t);
int	 mtpl_check(const char *, char *, size_t);
void	 mtpl_render(struct buf *, const char *, json_t *, int);

#endif /* CRM_MAIL_H */
