#!/usr/bin/env python3
"""A TCP proxy whose server-to-client direction is a slow link, for the ABR test.

Usage: throttle-proxy.py <listen-port> <target-port> <rate bytes/s> <seconds>

Listens on 127.0.0.1:<listen-port> (0: any; the port is printed as the first line of stdout) and
relays every connection to 127.0.0.1:<target-port>. For <seconds> after it starts, or until it gets
SIGUSR1, bytes from the target are read at <rate> bytes/s at most; after that, at full speed. The socket to the target has
a small receive buffer (SO_RCVBUF 4 KiB, set before connect so the TCP window stays small), so
the target's kernel send buffer fills within seconds, as on a slow link, and the target's own
queue (uWebSockets.js backpressure) grows. It also asks for an Ethernet-sized MSS (1400 bytes), so
the target's kernel sizes its send buffer as it would for a real network path. Node's net module cannot set SO_RCVBUF, hence Python.
"""
import signal
import socket
import sys
import threading
import time

listen_port, target_port, rate, seconds = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
until = time.monotonic() + seconds


def link_recovers(_signum, _frame):
    global until
    until = 0


signal.signal(signal.SIGUSR1, link_recovers)
CHUNK = 512


def close_both(a, b):
    for s in (a, b):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def client_to_target(client, target):
    try:
        while True:
            data = client.recv(65536)
            if not data:
                break
            target.sendall(data)
    except OSError:
        pass
    close_both(client, target)


def target_to_client(target, client):
    budget_at = time.monotonic()
    try:
        while True:
            slow = time.monotonic() < until
            data = target.recv(CHUNK if slow else 65536)
            if not data:
                break
            client.sendall(data)
            if slow:
                # pace: the next read no sooner than this chunk's share of the rate
                budget_at = max(budget_at, time.monotonic() - 1) + len(data) / rate
                wait = budget_at - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
    except OSError:
        pass
    close_both(client, target)


def serve(client):
    target = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    target.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    # an Ethernet-sized MSS in the SYN: loopback's 64 KiB one would let the target's kernel size its
    # send buffer (a multiple of cwnd x MSS) to over a megabyte, a minute of audio out of the gateway's sight
    target.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, 1400)
    try:
        target.connect(("127.0.0.1", target_port))
    except OSError:
        client.close()
        return
    threading.Thread(target=client_to_target, args=(client, target), daemon=True).start()
    threading.Thread(target=target_to_client, args=(target, client), daemon=True).start()


server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("127.0.0.1", listen_port))
server.listen(16)
print(server.getsockname()[1], flush=True)
while True:
    conn, _ = server.accept()
    serve(conn)
