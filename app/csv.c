/*
 * csv.c: a streaming RFC 4180 reader (imports, app/imp.h).
 *
 * The file is read through one fixed buffer and a record's fields live
 * only until the next record is read, so a file of a million rows costs
 * what its longest record costs.  The reader is strict where guessing
 * would import wrong data: a quote inside an unquoted field, text after
 * a closing quote, a quote left open at the end of the file, bytes that
 * are not UTF-8 and NUL bytes are errors naming the row, the physical
 * line and the byte offset.  It is lenient where every spreadsheet is:
 * CRLF, LF and a lone CR all end a record, a UTF-8 byte order mark at
 * offset 0 is skipped, and an empty line is a record marked blank (the
 * caller skips it, but it keeps its row number, as a spreadsheet does).
 *
 * Row numbers count records, the header being row 1, so "row 7" is the
 * row a spreadsheet shows; a quoted field spanning lines makes line and
 * row differ, hence both in errors.  csv_offset() after a record is where
 * the next one starts: a resumed import seeks there (csv_seek).
 */

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "imp.h"

#define CSV_MAXRECORD	(4 * 1024 * 1024)	/* bytes of one record */

#define CSV_EOF		(-1)
#define CSV_IOERR	(-2)

enum csv_state { CSV_START, CSV_PLAIN, CSV_QUOTED, CSV_CLOSED };

void
csv_init(struct csv *c, int fd, size_t maxfield)
{
	memset(c, 0, sizeof(*c));
	c->fd = fd;
	c->maxfield = maxfield ? maxfield : CSV_MAXFIELD;
	c->dcap = 4096;
	c->data = xmalloc(c->dcap);
	c->fcap = 64;
	c->start = xcalloc((size_t)c->fcap, sizeof(*c->start));
	c->next_line = 1;
}

void
csv_free(struct csv *c)
{
	xfree(c->data);
	xfree(c->start);
	c->data = NULL;
	c->start = NULL;
}

/* Continue at a record boundary csv_offset() gave, after row `row`. */
int
csv_seek(struct csv *c, off_t off, long long row, long long line)
{
	if (lseek(c->fd, off, SEEK_SET) == (off_t)-1)
		return (-1);
	c->base = off;
	c->len = c->pos = 0;
	c->eof = 0;
	c->row = row;
	c->next_line = line;
	c->error = 0;
	c->u_need = 0;
	return (0);
}

off_t
csv_offset(const struct csv *c)
{
	return (c->base + (off_t)c->pos);
}

const char *
csv_field(const struct csv *c, int i)
{
	return (i >= 0 && i < c->nf ? c->data + c->start[i] : NULL);
}

static int
csv_fail(struct csv *c, off_t at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
csv_fail(struct csv *c, off_t at, const char *fmt, ...)
{
	va_list	ap;
	char	why[100];

	va_start(ap, fmt);
	(void)vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	c->error = 1;
	c->err_off = at;
	(void)snprintf(c->err, sizeof(c->err), "row %lld (line %lld, byte "
	    "%lld): %s", c->row, c->next_line, (long long)at, why);
	return (-1);
}

static int
csv_fill(struct csv *c)
{
	ssize_t	n;

	if (c->pos < c->len)
		return (1);
	if (c->eof)
		return (0);
	c->base += (off_t)c->len;
	c->len = c->pos = 0;
	for (;;) {
		n = read(c->fd, c->buf, sizeof(c->buf));
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return (-1);
		break;
	}
	if (n == 0)
		c->eof = 1;
	c->len = (size_t)n;
	return (n > 0);
}

static int
csv_peek(struct csv *c)
{
	int	rc;

	if ((rc = csv_fill(c)) <= 0)
		return (rc == 0 ? CSV_EOF : CSV_IOERR);
	return (c->buf[c->pos]);
}

/*
 * UTF-8, byte by byte (RFC 3629: no overlong forms, no surrogates,
 * nothing above U+10FFFF).  0 good so far, -1 invalid.
 */
static int
csv_utf8(struct csv *c, unsigned char b)
{
	if (c->u_need > 0) {
		if (b < c->u_lo || b > c->u_hi)
			return (-1);
		c->u_lo = 0x80;
		c->u_hi = 0xbf;
		c->u_need--;
		return (0);
	}
	c->u_lo = 0x80;
	c->u_hi = 0xbf;
	if (b < 0x80)
		return (0);
	if (b >= 0xc2 && b <= 0xdf)
		c->u_need = 1;
	else if (b >= 0xe0 && b <= 0xef) {
		c->u_need = 2;
		if (b == 0xe0)
			c->u_lo = 0xa0;
		else if (b == 0xed)
			c->u_hi = 0x9f;
	} else if (b >= 0xf0 && b <= 0xf4) {
		c->u_need = 3;
		if (b == 0xf0)
			c->u_lo = 0x90;
		else if (b == 0xf4)
			c->u_hi = 0x8f;
	} else
		return (-1);
	return (0);
}

/* The next byte, checked; CSV_EOF, CSV_IOERR, or -3 after csv_fail. */
static int
csv_get(struct csv *c)
{
	int		ch;
	off_t		at = csv_offset(c);

	if ((ch = csv_peek(c)) < 0) {
		if (ch == CSV_EOF && c->u_need > 0) {
			(void)csv_fail(c, at, "the file ends inside a UTF-8 "
			    "sequence");
			return (-3);
		}
		return (ch);
	}
	c->pos++;
	if (ch == 0) {
		(void)csv_fail(c, at, "a NUL byte");
		return (-3);
	}
	if (csv_utf8(c, (unsigned char)ch) == -1) {
		(void)csv_fail(c, at, "invalid UTF-8 (byte 0x%02x)", ch);
		return (-3);
	}
	return (ch);
}

static int
csv_put(struct csv *c, int ch)
{
	if (c->dlen - c->start[c->nf - 1] >= c->maxfield)
		return (csv_fail(c, csv_offset(c), "a field longer than %zu "
		    "bytes", c->maxfield));
	if (c->dlen + 2 > c->dcap) {
		if (c->dcap >= CSV_MAXRECORD)
			return (csv_fail(c, csv_offset(c), "a record longer "
			    "than %d bytes", CSV_MAXRECORD));
		c->dcap *= 2;
		c->data = xrealloc(c->data, c->dcap);
	}
	c->data[c->dlen++] = (char)ch;
	return (0);
}

static int
csv_field_begin(struct csv *c)
{
	if (c->dlen + 2 > c->dcap) {
		c->dcap *= 2;
		c->data = xrealloc(c->data, c->dcap);
	}
	if (c->nf > 0)
		c->data[c->dlen++] = '\0';
	if (c->nf == CSV_MAXFIELDS)
		return (csv_fail(c, csv_offset(c), "more than %d fields",
		    CSV_MAXFIELDS));
	if (c->nf == c->fcap) {
		c->fcap *= 2;
		c->start = xrealloc(c->start, (size_t)c->fcap *
		    sizeof(*c->start));
	}
	c->start[c->nf++] = c->dlen;
	return (0);
}

/* A record ends at CR, LF or CRLF: the LF of a CRLF is eaten here. */
static int
csv_eol(struct csv *c, int ch)
{
	c->next_line++;
	if (ch == '\r' && csv_peek(c) == '\n')
		(void)csv_get(c);
	c->data[c->dlen] = '\0';
	return (1);
}

static void
csv_bom(struct csv *c)
{
	if (csv_offset(c) != 0 || csv_fill(c) <= 0)
		return;
	/* A short first read (a pipe) could split it: read on. */
	while (c->len < 3 && !c->eof) {
		ssize_t n = read(c->fd, c->buf + c->len, 3 - c->len);
		if (n <= 0)
			break;
		c->len += (size_t)n;
	}
	if (c->len >= 3 && memcmp(c->buf, "\xef\xbb\xbf", 3) == 0)
		c->pos = 3;
}

/* 1: a record (maybe blank); 0: end of file; -1: error (c->err). */
int
csv_next(struct csv *c)
{
	enum csv_state	 st = CSV_START;
	off_t		 qoff = 0;
	long long	 qline = 0;
	int		 ch;

	if (c->error)
		return (-1);
	csv_bom(c);
	c->nf = 0;
	c->dlen = 0;
	c->blank = 0;
	c->rec_off = csv_offset(c);
	c->line = c->next_line;
	if ((ch = csv_peek(c)) == CSV_EOF)
		return (c->u_need ? csv_fail(c, c->rec_off, "the file ends "
		    "inside a UTF-8 sequence") : 0);
	c->row++;
	if (csv_field_begin(c) == -1)
		return (-1);
	for (;;) {
		off_t at = csv_offset(c);

		if ((ch = csv_get(c)) == -3)
			return (-1);
		if (ch == CSV_IOERR)
			return (csv_fail(c, at, "read error: %s",
			    strerror(errno)));
		switch (st) {
		case CSV_START:
		case CSV_PLAIN:
			if (ch == CSV_EOF) {
				c->data[c->dlen] = '\0';
				return (1);
			}
			if (ch == '\r' || ch == '\n') {
				c->blank = c->nf == 1 && st == CSV_START &&
				    c->dlen == 0;
				return (csv_eol(c, ch));
			}
			if (ch == ',') {
				if (csv_field_begin(c) == -1)
					return (-1);
				st = CSV_START;
			} else if (ch == '"' && st == CSV_START) {
				st = CSV_QUOTED;
				qoff = at;
				qline = c->next_line;
			} else if (ch == '"') {
				return (csv_fail(c, at, "a quote inside an "
				    "unquoted field (quote the whole field "
				    "and double the quote)"));
			} else {
				if (csv_put(c, ch) == -1)
					return (-1);
				st = CSV_PLAIN;
			}
			break;
		case CSV_QUOTED:
			if (ch == CSV_EOF) {
				c->next_line = qline;
				return (csv_fail(c, qoff, "a quoted field is "
				    "never closed (the file ends inside it)"));
			}
			if (ch == '"') {
				st = CSV_CLOSED;
				break;
			}
			if (ch == '\n' || (ch == '\r' && csv_peek(c) != '\n'))
				c->next_line++;
			if (csv_put(c, ch) == -1)
				return (-1);
			break;
		case CSV_CLOSED:
			if (ch == CSV_EOF) {
				c->data[c->dlen] = '\0';
				return (1);
			}
			if (ch == '"') {
				if (csv_put(c, ch) == -1)
					return (-1);
				st = CSV_QUOTED;
			} else if (ch == ',') {
				if (csv_field_begin(c) == -1)
					return (-1);
				st = CSV_START;
			} else if (ch == '\r' || ch == '\n') {
				return (csv_eol(c, ch));
			} else {
				return (csv_fail(c, at, "text after a "
				    "closing quote (a quote inside a quoted "
				    "field is written twice)"));
			}
			break;
		}
	}
}
