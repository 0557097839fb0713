"""The issue's attack on the HTTP app, over a real tap with Linux as the client: ``HEAD
/bytes/1000000000`` (2.0 GB peak RSS before the fix), an 8 MB upload, an oversize N and a
header flood.  The emulated side's allocations are measured with tracemalloc while the world
runs the exchange; skipped where no Linux peer can be made (root, /dev/net/tun, ip)."""

from __future__ import annotations

import json
import textwrap
import tracemalloc

import pytest
from test_tap_tcp import EMU_IP, linux_and_emulated

from ixsim.apps import http_server
from ixsim.apps.http import MAX_BYTES
from ixsim.netns import available

OK, WHY = available()
pytestmark = pytest.mark.skipif(not OK, reason=f"Linux peer unavailable: {WHY}")

ATTACK = textwrap.dedent("""
    import json, socket, sys
    def exchange(request, body=0):
        s = socket.create_connection((sys.argv[1], 80), timeout=30)
        s.sendall(request)
        chunk = bytes(65536)
        while body > 0:
            s.sendall(chunk[:min(body, len(chunk))])
            body -= len(chunk)
        out = b""
        while True:
            try:
                got = s.recv(65536)
            except ConnectionResetError:
                break
            if not got:
                break
            out += got
        s.close()
        head, _, rest = out.partition(b"\\r\\n\\r\\n")
        return [head.split(b"\\r\\n")[0].decode(), len(rest),
                [h.decode() for h in head.split(b"\\r\\n")[1:] if h.startswith(b"Content-Length")]]
    out = [
        exchange(b"HEAD /bytes/1000000000 HTTP/1.1\\r\\nHost: x\\r\\n"
                 b"Connection: close\\r\\n\\r\\n"),
        exchange(b"POST /hello HTTP/1.1\\r\\nContent-Length: 8000000\\r\\nConnection: close"
                 b"\\r\\n\\r\\n", 8000000),
        exchange(b"GET /bytes/%d HTTP/1.1\\r\\nConnection: close\\r\\n\\r\\n" % int(sys.argv[2])),
        exchange(b"GET / HTTP/1.1\\r\\nX-Flood: " + b"f" * 100000 + b"\\r\\n\\r\\n"),
    ]
    print(json.dumps(out))
""")


def test_linux_cannot_make_the_http_app_hold_what_it_asks_for() -> None:
    with linux_and_emulated() as (peer, world, host):
        server = host.spawn(http_server(host, 80, connections=4))
        world.run_for("1ms")
        tracemalloc.start()
        try:
            result = peer.python(ATTACK, EMU_IP, MAX_BYTES + 1, world=world, timeout=120)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        head, upload, over, flood = json.loads(result.stdout)
        assert head == ["HTTP/1.1 200 OK", 0, ["Content-Length: 1000000000"]]
        assert upload[0] == "HTTP/1.1 405 Method Not Allowed"
        assert over[0] == "HTTP/1.1 400 Bad Request"
        assert flood[0] == "HTTP/1.1 431 Request Header Fields Too Large"
        assert world.run_until(server.done, timeout="5s")
        assert server.result().bytes_in >= 8_000_000
        # the world (stack, NIC, tap, apps) allocated a few socket buffers' worth at most
        assert peak < 24 << 20, peak
