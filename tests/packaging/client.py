"""A client for the packaging test: talks to a `rewind` server that an
installed artifact started (the binary from its tarball, or the wheel's
`rewind` command), with the installed package's own `rewind.client`.

Usage: client.py LOGFILE CODEWORD

Waits for the server's ready line in LOGFILE (the server's standard error),
takes the v1 query endpoint from it (the server was asked for port `*`),
publishes two events, queries them back, then sends the exit codeword and
expects `QUIT`. Exits 0 when all of it went as it should.
"""

import re
import sys
import time

import zmq

import rewind.client


def ready_endpoint(logfile: str, timeout: float = 60.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open(logfile, encoding="utf-8", errors="replace") as f:
            for line in f:
                if "rewind is ready" in line:
                    m = re.search(r"v1 query (tcp://[^\s;,]+)", line)
                    if not m:
                        sys.exit(f"no v1 query endpoint in the ready line: {line!r}")
                    return m.group(1)
        time.sleep(0.1)
    sys.exit(f"no ready line in {logfile} after {timeout} s")


def main() -> None:
    logfile, codeword = sys.argv[1], sys.argv[2]
    endpoint = ready_endpoint(logfile)
    ctx = zmq.Context()
    req = ctx.socket(zmq.REQ)
    req.setsockopt(zmq.RCVTIMEO, 20000)
    req.setsockopt(zmq.LINGER, 0)
    req.connect(endpoint)
    rewind.client.publish_event(req, b"first")
    rewind.client.publish_event(req, b"second")
    events = [data for _id, data in rewind.client.query_events(req)]
    if events != [b"first", b"second"]:
        sys.exit(f"queried {events!r}")
    req.send(codeword.encode())
    reply = req.recv()
    if reply != b"QUIT":
        sys.exit(f"the exit codeword got {reply!r}")
    req.close()
    ctx.term()
    print(f"ok {endpoint}")


if __name__ == "__main__":
    main()
