"""Applications written against the BSD socket API, as tasks: ``host.spawn(echo_server(b))``.

echo (RFC 862), discard (RFC 863), chargen (RFC 864), a small HTTP/1.1 server and client,
and a bulk sender/receiver reporting goodput with the stream's sha256.  Each takes the host
to run on first: anything with ``socket(family, type)`` (an ixsim Host) or a ``stack`` Net.
"""

from ixsim.apps.bulk import Goodput, bulk_receive, bulk_send, stream_bytes
from ixsim.apps.chargen import chargen_bytes, chargen_server
from ixsim.apps.common import ServerStats, listen_on, open_socket
from ixsim.apps.discard import discard_server
from ixsim.apps.echo import echo_client, echo_server, echo_server_epoll
from ixsim.apps.http import (
    Content,
    HttpResponse,
    body_bytes,
    generated_content,
    http_get,
    http_server,
)

__all__ = [
    "body_bytes",
    "bulk_receive",
    "Content",
    "bulk_send",
    "chargen_bytes",
    "chargen_server",
    "discard_server",
    "echo_client",
    "echo_server",
    "echo_server_epoll",
    "generated_content",
    "Goodput",
    "http_get",
    "http_server",
    "HttpResponse",
    "listen_on",
    "open_socket",
    "ServerStats",
    "stream_bytes",
]
