/*
 * mail.c: RFC 5322 messages with MIME (RFC 2045-2047), UTF-8 throughout.
 *
 * Every header value that is not plain short ASCII becomes RFC 2047
 * encoded-words ("=?UTF-8?B?...?="), folded so that no line passes 78
 * characters; bodies are quoted-printable (lines <= 76).  So no line of a
 * message we build can pass RFC 5322's 998, whatever the template says.
 *
 * Header injection: a CR, LF or NUL anywhere in an address, a display
 * name or the subject (after merging) refuses the whole message.  Bodies
 * cannot inject anything: quoted-printable turns a lone CR into "=0D" and
 * every line break into the part's own CRLF.
 */

#include <openssl/evp.h>

#include <stdio.h>
#include <string.h>

#include "mail.h"

#define MAIL_WORD_RAW	39	/* bytes per encoded-word: 52 base64 chars */
#define MAIL_QP_LINE	76

/* The characters of an unquoted local part (RFC 5322 atext) and '.'. */
static int
mail_atext(int c)
{
	return ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || (c != '\0' &&
	    strchr("!#$%&'*+-/=?^_`{|}~.", c) != NULL));
}

/*
 * A plain addr-spec: dot-atom local part, a domain of letters, digits,
 * '-' and '.' with at least one dot.  Deliberately narrower than RFC 5321
 * (no quoted local parts, no address literals): what we accept here goes
 * into SMTP commands and headers verbatim.
 */
int
mail_addr_ok(const char *a)
{
	const char	*at, *p;
	size_t		 n;

	if (a == NULL || (n = strlen(a)) == 0 || n > MAIL_ADDR_MAX ||
	    (at = strchr(a, '@')) == NULL || at == a || at - a > 64 ||
	    strchr(at + 1, '@') != NULL || a[0] == '.' || at[-1] == '.')
		return (0);
	for (p = a; p < at; p++) {
		if (!mail_atext((unsigned char)*p) ||
		    (p[0] == '.' && p[1] == '.'))
			return (0);
	}
	p = at + 1;
	if (*p == '\0' || *p == '.' || *p == '-' || strchr(p, '.') == NULL ||
	    a[n - 1] == '.' || a[n - 1] == '-')
		return (0);
	for (; *p != '\0'; p++) {
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '-' || *p == '.') ||
		    (p[0] == '.' && p[1] == '.'))
			return (0);
	}
	return (1);
}

const char *
mail_domain(const char *a)
{
	const char	*at = strchr(a, '@');

	return (at != NULL ? at + 1 : "localhost");
}

static int
mail_has_ctl(const char *s)
{
	return (s != NULL && strpbrk(s, "\r\n") != NULL);
}

/* Printable ASCII, at most max bytes: can go into a header as it is. */
static int
mail_plain(const char *s, size_t max)
{
	size_t	i;

	for (i = 0; s[i] != '\0'; i++) {
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e ||
		    i >= max)
			return (0);
	}
	return (1);
}

/* Length of the UTF-8 sequence starting with byte c (1 when invalid). */
static size_t
mail_u8len(unsigned char c)
{
	if (c >= 0xf0 && c < 0xf8)
		return (4);
	if (c >= 0xe0)
		return (c < 0xf0 ? 3 : 1);
	if (c >= 0xc0)
		return (2);
	return (1);
}

/*
 * "=?UTF-8?B?...?=" words of at most 39 bytes each, never splitting a
 * UTF-8 sequence (RFC 2047 6.3 wants whole characters), folded.
 */
static void
mail_words(struct buf *out, const char *s)
{
	unsigned char	 b64[MAIL_WORD_RAW * 2];
	size_t		 n = strlen(s), i = 0, take, k;
	int		 first = 1;

	while (i < n) {
		take = 0;
		while (i + take < n) {
			k = mail_u8len((unsigned char)s[i + take]);
			if (take + k > MAIL_WORD_RAW)
				break;
			take += k;
		}
		if (take == 0)			/* a broken tail: one byte */
			take = 1;
		if (i + take > n)
			take = n - i;
		(void)EVP_EncodeBlock(b64, (const unsigned char *)s + i,
		    (int)take);
		buf_appends(out, first ? "=?UTF-8?B?" : "\r\n =?UTF-8?B?");
		buf_appends(out, (const char *)b64);
		buf_appends(out, "?=");
		first = 0;
		i += take;
	}
}

/* "Name: value\r\n"; value already checked for CR and LF. */
void
mail_header(struct buf *out, const char *name, const char *value)
{
	buf_appends(out, name);
	buf_appends(out, ": ");
	if (mail_plain(value, 900))
		buf_appends(out, value);
	else
		mail_words(out, value);
	buf_appends(out, "\r\n");
}

/* A display name and its address: "Name" <a@b> or an encoded word. */
static void
mail_mailbox(struct buf *out, const char *hdr, const char *name,
    const char *addr)
{
	const char	*p;

	buf_appends(out, hdr);
	buf_appends(out, ": ");
	if (name != NULL && name[0] != '\0') {
		if (mail_plain(name, 60)) {
			buf_appendc(out, '"');
			for (p = name; *p != '\0'; p++) {
				if (*p == '"' || *p == '\\')
					buf_appendc(out, '\\');
				buf_appendc(out, *p);
			}
			buf_appendc(out, '"');
		} else {
			mail_words(out, name);
		}
		buf_appends(out, "\r\n ");
	}
	buf_appendf(out, "<%s>\r\n", addr);
}

/* RFC 5322 3.3 in UTC, without the locale's help. */
void
mail_date(struct buf *out, time_t t)
{
	static const char *const	day[] = { "Sun", "Mon", "Tue", "Wed",
					    "Thu", "Fri", "Sat" };
	static const char *const	mon[] = { "Jan", "Feb", "Mar", "Apr",
					    "May", "Jun", "Jul", "Aug", "Sep",
					    "Oct", "Nov", "Dec" };
	struct tm			tm;

	(void)gmtime_r(&t, &tm);
	buf_appendf(out, "%s, %02d %s %04d %02d:%02d:%02d +0000",
	    day[tm.tm_wday], tm.tm_mday, mon[tm.tm_mon], tm.tm_year + 1900,
	    tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* Quoted-printable (RFC 2045 6.7); "\n" and "\r\n" become CRLF. */
void
mail_qp(struct buf *out, const char *s, size_t n)
{
	static const char	hex[] = "0123456789ABCDEF";
	size_t			i, col = 0, w;
	unsigned char		c;
	char			enc[4];
	int			eol;

	for (i = 0; i < n; i++) {
		c = (unsigned char)s[i];
		if (c == '\n' || (c == '\r' && i + 1 < n && s[i + 1] == '\n')) {
			if (c == '\r')
				i++;
			buf_appends(out, "\r\n");
			col = 0;
			continue;
		}
		/* Blanks before a line break (or the end) must be encoded. */
		eol = i + 1 == n || s[i + 1] == '\n' || s[i + 1] == '\r';
		if ((c >= 33 && c <= 126 && c != '=') ||
		    ((c == ' ' || c == '\t') && !eol)) {
			enc[0] = (char)c;
			w = 1;
		} else {
			enc[0] = '=';
			enc[1] = hex[c >> 4];
			enc[2] = hex[c & 15];
			w = 3;
		}
		if (col + w > MAIL_QP_LINE - 1) {	/* room for the '=' */
			buf_appends(out, "=\r\n");
			col = 0;
		}
		buf_append(out, enc, w);
		col += w;
	}
	buf_appends(out, "\r\n");
}

static void
mail_part(struct buf *out, const char *type, const char *body)
{
	buf_appendf(out, "Content-Type: %s; charset=UTF-8\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n\r\n", type);
	mail_qp(out, body, strlen(body));
}

static const char *
mail_refuse(const struct mail_msg *m)
{
	if (!mail_addr_ok(m->from))
		return ("the sender address is not a plain address");
	if (!mail_addr_ok(m->to))
		return ("the recipient address is not a plain address");
	if (m->reply_to != NULL && !mail_addr_ok(m->reply_to))
		return ("the reply-to address is not a plain address");
	if (mail_has_ctl(m->from_name) || mail_has_ctl(m->subject))
		return ("a line break in a header (header injection refused)");
	if (m->subject == NULL || m->text == NULL)
		return ("no subject or no text");
	return (NULL);
}

/*
 * The whole message with CRLF line ends, ready for SMTP DATA (libcurl
 * dot-stuffs it).  -1 with *why when a header would carry a line break
 * or an address is not plain.
 */
int
mail_build(const struct mail_msg *m, struct buf *out, const char **why)
{
	uint8_t		rnd[12];
	char		bnd[64], hex[25];

	if ((*why = mail_refuse(m)) != NULL)
		return (-1);
	buf_appends(out, "Date: ");
	mail_date(out, m->date);
	buf_appends(out, "\r\n");
	mail_mailbox(out, "From", m->from_name, m->from);
	buf_appendf(out, "To: <%s>\r\n", m->to);
	if (m->reply_to != NULL)
		buf_appendf(out, "Reply-To: <%s>\r\n", m->reply_to);
	mail_header(out, "Subject", m->subject);
	/* The job id: the same on every retry, so receivers can dedupe. */
	buf_appendf(out, "Message-ID: <%s@%s>\r\n", m->id, mail_domain(m->from));
	buf_appends(out, "MIME-Version: 1.0\r\n");
	if (m->html == NULL) {
		mail_part(out, "text/plain", m->text);
		return (0);
	}
	if (m->boundary != NULL) {
		(void)snprintf(bnd, sizeof(bnd), "%s", m->boundary);
	} else {
		(void)crm_random(rnd, sizeof(rnd));
		crm_hex(rnd, sizeof(rnd), hex);
		/* "=_" cannot occur in quoted-printable text: RFC 2045 7. */
		(void)snprintf(bnd, sizeof(bnd), "=_crm_%s", hex);
	}
	buf_appendf(out, "Content-Type: multipart/alternative; "
	    "boundary=\"%s\"\r\n\r\n", bnd);
	buf_appendf(out, "--%s\r\n", bnd);
	mail_part(out, "text/plain", m->text);
	buf_appendf(out, "--%s\r\n", bnd);
	mail_part(out, "text/html", m->html);
	buf_appendf(out, "--%s--\r\n", bnd);
	return (0);
}
