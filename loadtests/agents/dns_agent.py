"""An agent that resolves names and connects to them, for the domain allowlist tests and bench.

    python3 dns_agent.py PORT TARGET...

Each TARGET is a name (resolved through the system resolver, A records), a literal
IPv4 address, or forge:NAME=ADDR, which answers itself (from 127.0.0.9:53, with no
query sent) that NAME is at ADDR, then connects to ADDR. One line per target:
"TARGET ADDR connected", "TARGET ADDR errno N" or "TARGET resolve-error ...".
"""
import socket
import struct
import sys


def forge(name, addr):
    """A DNS answer nobody asked for, sent to ourselves from port 53."""
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sender.bind(("127.0.0.9", 53))
    qname = b"".join(bytes([len(l)]) + l.encode() for l in name.split(".")) + b"\0"
    msg = struct.pack("!HHHHHH", 0x1234, 0x8180, 1, 1, 0, 0) + qname + struct.pack("!HH", 1, 1)
    msg += struct.pack("!HHHIH", 0xC00C, 1, 1, 60, 4) + socket.inet_aton(addr)
    sender.sendto(msg, receiver.getsockname())
    receiver.settimeout(2)
    receiver.recv(512)
    sender.close()
    receiver.close()
    return addr


def main():
    port = int(sys.argv[1])
    for target in sys.argv[2:]:
        try:
            if target.startswith("forge:"):
                name, addr = target[len("forge:"):].split("=")
                host = forge(name, addr)
            else:
                host = socket.getaddrinfo(target, port, socket.AF_INET, socket.SOCK_STREAM)[0][4][0]
        except Exception as e:  # noqa: BLE001 - reported, the next target goes on
            print(target, "resolve-error", e, flush=True)
            continue
        s = socket.socket()
        s.settimeout(3)
        try:
            s.connect((host, port))
            print(target, host, "connected", flush=True)
        except OSError as e:
            print(target, host, "errno", e.errno, flush=True)
        finally:
            s.close()


main()
