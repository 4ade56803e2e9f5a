/*
 * imp.h: CSV imports, the Kore-free halves (POST /v1/imports checks the
 * header with them, crm-worker reads the file with them).
 *
 *	csv.c		csv_   a streaming RFC 4180 reader over a file
 *	impmap.c	imap_  column names -> fields (ours, HubSpot's,
 *			       Salesforce's), CSV text -> JSON values
 *	jobimp.c	jimp_  the worker's run (declared in jobdb.h)
 */

#ifndef CRM_IMP_H
#define CRM_IMP_H

#include <sys/types.h>

#include "ent.h"

/*
 * csv.c.  One record at a time from a file descriptor, with a fixed
 * read buffer and fields kept only until the next record: memory is flat
 * whatever the file's size.  Strict RFC 4180 (a quote inside an unquoted
 * field, or anything but a separator after a closing quote, is an
 * error), with every line end (CRLF, LF, CR) accepted, a UTF-8 BOM
 * skipped at offset 0, and every byte checked to be UTF-8.
 */
#define CSV_BUFSZ	65536
#define CSV_MAXFIELD	(256 * 1024)	/* bytes, default cap */
#define CSV_MAXFIELDS	1000		/* per record */

struct csv {
	int		 fd;
	unsigned char	 buf[CSV_BUFSZ];
	size_t		 len;		/* bytes in buf */
	size_t		 pos;		/* next byte to read */
	off_t		 base;		/* file offset of buf[0] */
	int		 eof;
	size_t		 maxfield;
	/* the record just read */
	char		*data;		/* fields, each NUL-terminated */
	size_t		 dlen, dcap;
	size_t		*start;		/* field i at data + start[i] */
	int		 nf, fcap;
	off_t		 rec_off;	/* its first byte */
	long long	 row;		/* its number; the header is 1 */
	long long	 line;		/* physical line it starts on */
	int		 blank;		/* an empty line */
	/* where the next record starts */
	long long	 next_line;
	/* the first error: row, line, byte and why */
	int		 error;
	off_t		 err_off;
	char		 err[160];
	/* UTF-8 state */
	int		 u_need;
	unsigned char	 u_lo, u_hi;
};

void	 csv_init(struct csv *, int, size_t);
int	 csv_seek(struct csv *, off_t, long long, long long);
int	 csv_next(struct csv *);	/* 1 a record, 0 EOF, -1 error */
const char	*csv_field(const struct csv *, int);
off_t	 csv_offset(const struct csv *);	/* of the next record */
void	 csv_free(struct csv *);

/*
 * impmap.c.  A column maps to a target: a field of the entity, a custom
 * field ("custom.<name>"), or one of the import's own targets resolved by
 * the worker: "@owner" (a user's e-mail), "@account" (an account's name
 * or domain), "@pipeline", "@stage" (by name), "<object field>.<part>"
 * (address parts).
 */
#define IMAP_TARGET	96

const char	*imap_alias(const char *, const char *);
void	 imap_norm(const char *, char *, size_t);
int	 imap_target(const struct ent_desc *, const struct ent_cdefs *,
	    json_t *, json_t *, const char *, char *, size_t);
int	 imap_target_ok(const struct ent_desc *, const struct ent_cdefs *,
	    const char *);
int	 imap_required(const struct ent_desc *, json_t *, char *, size_t);
int	 imap_mapped(json_t *, const char *);
int	 imap_dedupe_ok(const char *, const char *);
json_t	*imap_value(const struct ent_field *, const char *);

#endif /* CRM_IMP_H */
