#!/usr/bin/python3
"""A downstream SMTP server for test_delivery (aiosmtpd): prints its port on stdout, saves
each accepted message as DIR/<n>.eml (the bytes as received, dot-unstuffed) with
DIR/<n>.json (envelope sender, recipients and the client's EHLO name), and answers on demand by local part:
RCPT defer@ 451, reject@ 550, multi@ a multi-line 550; DATA for datadefer@ 451, for
datareject@ 554; MAIL FROM blocked@ 553."""
import asyncio
import json
import os
import sys

from aiosmtpd.smtp import SMTP


def local(addr):
    return addr.split("@")[0].lower()


class Handler:
    def __init__(self, out):
        self.out = out
        self.n = 0

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if local(address) == "blocked":
            return "553 5.7.1 <%s>: sender refused" % address
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 Ok"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        lp = local(address)
        if lp == "defer":
            return "451 4.2.0 <%s>: mailbox busy, try later" % address
        if lp == "reject":
            return "550 5.1.1 <%s>: no such user" % address
        if lp == "multi":
            return "550-5.1.1 first line\r\n550 5.1.1 second line"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 Ok"

    async def handle_DATA(self, server, session, envelope):
        lps = [local(a) for a in envelope.rcpt_tos]
        if "datadefer" in lps:
            return "451 4.3.0 queue full, try later"
        if "datareject" in lps:
            return "554 5.6.0 content refused"
        self.n += 1
        base = os.path.join(self.out, "%d" % self.n)
        with open(base + ".eml", "wb") as f:
            f.write(envelope.original_content)
        with open(base + ".json", "w") as f:
            json.dump({"from": envelope.mail_from, "to": envelope.rcpt_tos, "helo": session.host_name}, f)
        return "250 2.0.0 Ok: queued as Q%d" % self.n


async def main():
    out = sys.argv[1]
    loop = asyncio.get_running_loop()
    handler = Handler(out)
    srv = await loop.create_server(
        lambda: SMTP(handler, enable_SMTPUTF8=True, hostname="peer.test"), "127.0.0.1", 0
    )
    print(srv.sockets[0].getsockname()[1], flush=True)
    await asyncio.Event().wait()


asyncio.run(main())
