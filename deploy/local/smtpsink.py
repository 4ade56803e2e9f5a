#!/usr/bin/python3
"""smtpsink.py: a local SMTP server that keeps what it receives, for
development (make run: var/mail/) and the test suites (tests/env.sh).

Usage: smtpsink.py --port N --dir DIR [--host 127.0.0.1]

Each message is written, as received (the bytes of DATA), to
DIR/<recipient>/<nanoseconds>-<n>.eml, once per recipient, through a
temporary file and a rename, so a reader never sees half a message.
Recipients in two reserved test domains are refused, so the worker's
error paths can be exercised without a real mail server:
    anything@reject.invalid     550 (permanent)
    anything@tempfail.invalid   451 (try again later)
"""

import argparse
import itertools
import os
import re
import signal
import threading
import time

from aiosmtpd.controller import Controller

_seq = itertools.count()


def mailbox_name(addr):
    """The directory of a recipient: its lower-case address when that is
    plain, else a name that cannot escape DIR."""
    a = addr.lower()
    if re.fullmatch(r"[a-z0-9._+'-]+@[a-z0-9.-]+", a) and ".." not in a:
        return a
    return "_" + a.encode().hex()[:200]


class Sink:
    def __init__(self, root):
        self.root = root

    async def handle_RCPT(self, server, session, envelope, address,
                          rcpt_options):
        domain = address.rpartition("@")[2].lower()
        if domain == "reject.invalid":
            return "550 5.1.1 mailbox unavailable"
        if domain == "tempfail.invalid":
            return "451 4.3.0 try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        data = envelope.original_content or envelope.content
        if isinstance(data, str):
            data = data.encode("utf-8", "surrogateescape")
        for rcpt in envelope.rcpt_tos:
            box = os.path.join(self.root, mailbox_name(rcpt))
            os.makedirs(box, exist_ok=True)
            name = "%d-%d.eml" % (time.time_ns(), next(_seq))
            tmp = os.path.join(box, "." + name + ".tmp")
            with open(tmp, "wb") as f:
                f.write(data)
            os.rename(tmp, os.path.join(box, name))
        return "250 Message accepted"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--dir", required=True)
    a = ap.parse_args()
    os.makedirs(a.dir, exist_ok=True)
    c = Controller(Sink(a.dir), hostname=a.host, port=a.port,
                   decode_data=False, enable_SMTPUTF8=True)
    c.start()
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    print("smtpsink: listening on %s:%d, mail in %s" % (a.host, a.port,
          a.dir), flush=True)
    done.wait()
    c.stop()


if __name__ == "__main__":
    main()
