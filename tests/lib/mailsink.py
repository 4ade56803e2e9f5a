"""mailsink.py: reading what the test SMTP sink received (tests/env.sh
starts deploy/local/smtpsink.py; each message is a file under
$CRM_TEST_MAIL_DIR/<recipient>/)."""

import email
import email.policy
import os
import re
import time

import crmtest

TOKEN_RE = re.compile(r"#token=([0-9a-f-]{36}\.[A-Za-z0-9_-]{43})")


def mail_dir():
    d = os.environ.get("CRM_TEST_MAIL_DIR")
    if not d:
        crmtest.ensure_service()
        d = os.environ["CRM_TEST_MAIL_DIR"]
    return d


def _box(addr):
    return os.path.join(mail_dir(), addr.lower())


def files(addr):
    """The message files of addr, oldest first."""
    try:
        names = [n for n in os.listdir(_box(addr)) if n.endswith(".eml")]
    except FileNotFoundError:
        return []
    names.sort(key=lambda n: tuple(int(x) for x in n[:-4].split("-")))
    return [os.path.join(_box(addr), n) for n in names]


def parse(path):
    with open(path, "rb") as f:
        raw = f.read()
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    msg.raw = raw
    return msg


def messages(addr):
    return [parse(p) for p in files(addr)]


def wait(addr, count=1, timeout=30.0):
    """Waits until addr has at least count messages; returns them all."""
    deadline = time.monotonic() + timeout
    while True:
        got = files(addr)
        if len(got) >= count:
            return [parse(p) for p in got]
        if time.monotonic() > deadline:
            raise AssertionError("%d message(s) for %s within %.0f s, "
                                 "got %d" % (count, addr, timeout, len(got)))
        time.sleep(0.1)


def text(msg):
    """The text/plain part, decoded, with "\n" line ends."""
    return msg.get_body(preferencelist=("plain",)).get_content() \
        .replace("\r\n", "\n")


def html(msg):
    part = msg.get_body(preferencelist=("html",))
    if part is None:
        return None
    return part.get_content().replace("\r\n", "\n")


def token(msg):
    """The token of an invitation or reset link in the message."""
    m = TOKEN_RE.search(text(msg))
    assert m, text(msg)
    return m.group(1)


def wait_token(addr, count=1, timeout=30.0):
    return token(wait(addr, count, timeout)[count - 1])
