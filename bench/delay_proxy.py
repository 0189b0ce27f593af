"""A TCP proxy on 127.0.0.1 that delivers every byte DELAY late in each
direction (so a round trip through it is 2 x DELAY longer), for the tree
benchmark's "far" link: this kernel has no netem.

    delay_proxy.py TARGET_PORT [--delay-ms 25] [--port-file FILE]

Listens on 127.0.0.1 (a free port), connects each client to
127.0.0.1:TARGET_PORT, and prints "listening PORT" (to FILE too) once ready.

Each chunk read from one side is stamped with the time it arrived and written
to the other side when DELAY has passed since then, in order: the delay is
added to the latency, not taken from the bandwidth (chunks due together are
written together). Up to MAX_QUEUED bytes per direction wait in the proxy;
past that it stops reading that side until the queue drains, so a fast
sender meets TCP flow control as it would on a long fat link. An end of
stream (FIN) is passed on as a half-close after the same delay; the
connection is closed once both directions have ended, or at once (both
sides) when either side fails.
"""
import argparse
import asyncio
import collections
import socket
import sys

READ_SIZE = 256 * 1024
MAX_QUEUED = 64 * 1024 * 1024
EOF = b""


class Pipe:
    """One direction: chunks read from `reader`, written to `writer` late."""

    def __init__(self, reader, writer, delay):
        self.reader, self.writer, self.delay = reader, writer, delay
        self.queue = collections.deque()  # (due, bytes); EOF marks the end
        self.queued = 0
        self.arrived = asyncio.Event()
        self.drained = asyncio.Event()

    async def read(self):
        loop = asyncio.get_running_loop()
        while True:
            while self.queued >= MAX_QUEUED:
                self.drained.clear()
                await self.drained.wait()
            data = await self.reader.read(READ_SIZE)
            self.queue.append((loop.time() + self.delay, data))
            self.queued += len(data)
            self.arrived.set()
            if data == EOF:
                return

    async def write(self):
        loop = asyncio.get_running_loop()
        while True:
            while not self.queue:
                self.arrived.clear()
                await self.arrived.wait()
            wait = self.queue[0][0] - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            now, batch, ended = loop.time(), [], False
            while self.queue and self.queue[0][0] <= now:
                _, data = self.queue.popleft()
                if data == EOF:
                    ended = True
                    break
                batch.append(data)
            if batch:
                self.writer.write(b"".join(batch))
                await self.writer.drain()
                self.queued -= sum(map(len, batch))
                self.drained.set()
            if ended:
                if self.writer.can_write_eof():
                    self.writer.write_eof()
                return


async def relay(client_reader, client_writer, target_port, delay):
    try:
        server_reader, server_writer = await asyncio.open_connection("127.0.0.1", target_port)
    except OSError:
        client_writer.transport.abort()
        return
    for w in (client_writer, server_writer):
        sock = w.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    up = Pipe(client_reader, server_writer, delay)
    down = Pipe(server_reader, client_writer, delay)
    tasks = [asyncio.ensure_future(c) for c in (up.read(), up.write(), down.read(), down.write())]
    try:
        await asyncio.gather(*tasks)
    except (OSError, asyncio.IncompleteReadError):
        for t in tasks:
            t.cancel()
        for w in (client_writer, server_writer):
            w.transport.abort()
        return
    for w in (client_writer, server_writer):
        w.close()


async def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("target_port", type=int)
    parser.add_argument("--delay-ms", type=float, default=25.0)
    parser.add_argument("--port-file")
    args = parser.parse_args()
    delay = args.delay_ms / 1000

    server = await asyncio.start_server(
        lambda r, w: relay(r, w, args.target_port, delay), "127.0.0.1", 0, backlog=1024
    )
    port = server.sockets[0].getsockname()[1]
    if args.port_file:
        with open(args.port_file, "w") as f:
            f.write(f"{port}\n")
    print(f"listening {port}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(130)
