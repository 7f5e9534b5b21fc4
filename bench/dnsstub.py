"""A tiny authoritative DNS responder on a loopback UDP port, for the
mail-authentication benchmark: it answers TXT queries for the names it is
given and NXDOMAIN for every other name (NOERROR with no answer for a known
name asked with another type). Standard library only (RFC 1035 §4.1).
"""

import socket
import struct
import threading
from collections import Counter

TXT = 16
SOA = 6


def _qname(packet, offset):
    """The question name (lower case, no trailing dot) and the offset past it."""
    labels = []
    while True:
        n = packet[offset]
        offset += 1
        if n == 0:
            return ".".join(labels).lower(), offset
        if n & 0xC0:  # queries never compress their one question
            raise ValueError("compressed name in a question")
        labels.append(packet[offset:offset + n].decode("ascii", "replace"))
        offset += n


def _name(name):
    return b"".join(bytes([len(l)]) + l.encode() for l in name.split(".") if l) + b"\0"


def _txt_rdata(text):
    data = text.encode()
    chunks = [data[i:i + 255] for i in range(0, len(data), 255)] or [b""]
    return b"".join(bytes([len(c)]) + c for c in chunks)


class DnsStub:
    """Serves {name: [txt, ...]} on `addr` (default 127.0.0.1:<any port>) until stop()."""

    def __init__(self, txt_records, ttl=300, addr=("127.0.0.1", 0)):
        self.txt = {k.lower().rstrip("."): v for k, v in txt_records.items()}
        self.ttl = ttl
        self.queries = Counter()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(addr)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self):
        while not self._stop.is_set():
            try:
                packet, peer = self.sock.recvfrom(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            try:
                reply = self.answer(packet)
            except (IndexError, ValueError, struct.error):
                continue  # not a query we can read: stay silent
            self.sock.sendto(reply, peer)

    def answer(self, packet):
        qid, flags, qdcount = struct.unpack("!HHH", packet[:6])
        name, end = _qname(packet, 12)
        qtype, _qclass = struct.unpack("!HH", packet[end:end + 4])
        question = packet[12:end + 4]
        self.queries[(name, qtype)] += 1
        answers = []
        rcode = 0
        if name not in self.txt:
            rcode = 3  # NXDOMAIN
        elif qtype == TXT:
            for text in self.txt[name]:
                rdata = _txt_rdata(text)
                # 0xC00C: a pointer to the question's name.
                answers.append(struct.pack("!HHHIH", 0xC00C, TXT, 1, self.ttl, len(rdata)) + rdata)
        authority = [] if answers else [self._soa(name)]
        # QR, the request's opcode and RD, AA, RA, and the rcode.
        out_flags = 0x8000 | (flags & 0x7900) | 0x0400 | 0x0080 | rcode
        header = struct.pack("!HHHHHH", qid, out_flags, 1 if qdcount else 0, len(answers),
                             len(authority), 0)
        return header + question + b"".join(answers + authority)

    def _soa(self, name):
        """The SOA of the name's top-level zone, so a resolver caches the
        negative answer as it would a real one (RFC 2308 §3)."""
        zone = name.rsplit(".", 1)[-1]
        rdata = (_name(f"ns.{zone}") + _name(f"hostmaster.{zone}")
                 + struct.pack("!IIIII", 1, 3600, 600, 86400, self.ttl))
        return _name(zone) + struct.pack("!HHIH", SOA, 1, self.ttl, len(rdata)) + rdata

    def stop(self):
        self._stop.set()
        self._thread.join(timeout=2)
        self.sock.close()
