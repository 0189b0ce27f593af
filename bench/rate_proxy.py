"""A TCP proxy on 127.0.0.1 that limits each direction of each connection to
RATE bytes per second (a token bucket with 64 KiB of burst) and counts the
bytes it forwards, for the compress benchmark's "slow link": this kernel has
no netem.

    rate_proxy.py TARGET_PORT --rate BYTES_PER_SEC [--port-file FILE]
                  [--count-file FILE]

Listens on 127.0.0.1 (a free port), connects each client to
127.0.0.1:TARGET_PORT, prints "listening PORT" (to FILE too) once ready.
The count file is rewritten after every connection ends with
"up DOWN_BYTES down DOWN_BYTES" totals over all connections so far.
Small socket buffers on both sides keep the bytes in flight near what a
real 10 MB/s path holds, so a sender meets the limit through TCP flow
control within a fraction of a second.
"""
import argparse
import asyncio
import socket
import time

READ_SIZE = 64 * 1024
SOCKET_BUFFER = 256 * 1024
TOTALS = {"up": 0, "down": 0}


def small_buffers(writer):
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SOCKET_BUFFER)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SOCKET_BUFFER)


async def pump(reader, writer, rate, key):
    """Copy reader to writer at no more than `rate` bytes per second."""
    allowance, last = float(READ_SIZE), time.monotonic()
    try:
        while True:
            data = await reader.read(READ_SIZE)
            if not data:
                break
            now = time.monotonic()
            allowance = min(float(READ_SIZE), allowance + (now - last) * rate)
            last = now
            allowance -= len(data)
            if allowance < 0:
                await asyncio.sleep(-allowance / rate)
            writer.write(data)
            TOTALS[key] += len(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, OSError):
        pass


async def handle(client_reader, client_writer, args):
    try:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", args.target)
    except OSError:
        client_writer.close()
        return
    small_buffers(client_writer)
    small_buffers(up_writer)
    await asyncio.gather(
        pump(client_reader, up_writer, args.rate, "up"),
        pump(up_reader, client_writer, args.rate, "down"),
    )
    for w in (client_writer, up_writer):
        w.close()
    if args.count_file:
        with open(args.count_file, "w") as f:
            f.write(f"up {TOTALS['up']} down {TOTALS['down']}\n")


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("target", type=int)
    parser.add_argument("--rate", type=float, required=True)
    parser.add_argument("--port-file")
    parser.add_argument("--count-file")
    args = parser.parse_args()
    server = await asyncio.start_server(
        lambda r, w: handle(r, w, args), "127.0.0.1", 0
    )
    port = server.sockets[0].getsockname()[1]
    if args.port_file:
        with open(args.port_file, "w") as f:
            f.write(f"{port}\n")
    print(f"listening {port}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
