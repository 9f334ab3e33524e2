"""gunicorn's threaded worker, with a finished connection closed without waiting on the client.

gunicorn 27's gthread worker closes a connection that is not kept alive on its *main* thread, the
one that accepts and dispatches every connection of the process, and that close lingers up to
2 s for the client's FIN (``util.close_graceful``). Measured: five clients that send
``Connection: close`` and then keep their end open held another client's request for 7.9 s — an
unauthenticated stall of the whole worker. node-fetch (PouchDB in Node, so ``scripts/tablet.js``
and ``scripts/fleet.js``) sends ``Connection: close`` on every request, so 200 simulated tablets
stalled the gateway by accident: a static file took 3 s to serve while CouchDB answered in 20 ms.

Here that close half-closes (the client still gets every byte and a FIN), drains what the
client already sent without waiting for more, and closes: the drain is what spares the last
response segment from a reset, which is what the linger was for.
"""

from __future__ import annotations

import contextlib
import socket
from typing import Any

from gunicorn.workers import gthread


def close_now(sock: socket.socket) -> None:
    """Half-close, read what already arrived (never wait), close."""
    try:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_WR)
            sock.setblocking(False)
            for _ in range(16):  # at most 64 KiB, as gunicorn's own drain
                if not sock.recv(4096):
                    break
    finally:
        with contextlib.suppress(OSError):
            sock.close()


class ThreadWorker(gthread.ThreadWorker):
    def finish_request(self, conn: Any, fs: Any) -> None:
        """As gunicorn's, but a connection it closes on the main thread is closed at once."""

        def close(graceful: bool = False) -> None:
            close_now(conn.sock)

        conn.close = close  # the instance's close, for this one call of the main thread's
        super().finish_request(conn, fs)
