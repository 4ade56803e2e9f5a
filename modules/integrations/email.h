/*
 * email.h: what identity's flows (invitations in users.c, password
 * resets in reset.c) need from the e-mail module (email.c).
 */

#ifndef CRM_EMAIL_H
#define CRM_EMAIL_H

#include "job.h"

/* Hex of a sealed invitation or reset token, with its NUL. */
#define EMAIL_SEALED_HEX	((IDN_TOKEN_LEN + JSEAL_OVERHEAD) * 2 + 1)

int	 email_seal(const char *, char [EMAIL_SEALED_HEX]);	/* -1 no key */

#endif /* CRM_EMAIL_H */
