#!/usr/bin/env python3
"""A loopback DNS stub for the interop run: answers every query NXDOMAIN.

Keeps the server under test off the real network (no resolv.conf lookups,
no timeouts in an offline CI). Usage: dns_nx.py PORTFILE; it binds a free
UDP port on 127.0.0.1, writes the port number to PORTFILE and serves until
killed.
"""

import socket
import sys


def main():
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    with open(sys.argv[1], "w") as f:
        f.write(str(sock.getsockname()[1]))
    while True:
        query, peer = sock.recvfrom(4096)
        if len(query) < 12:
            continue
        # RFC 1035 section 4.1.1: keep the id and the question; set QR, keep
        # RD, set RA, RCODE 3 (NXDOMAIN); zero answer/authority/additional.
        flags = 0x8000 | (query[2] << 8 & 0x0100) | 0x0080 | 0x0003
        header = query[0:2] + flags.to_bytes(2, "big") + query[4:6] + b"\x00" * 6
        end = 12
        while end < len(query) and query[end] != 0:
            end += query[end] + 1
        question = query[12:end + 5]
        sock.sendto(header + question, peer)


if __name__ == "__main__":
    main()
