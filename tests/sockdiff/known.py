"""The scenarios that differ from Linux on today's tree: the measured difference and the part
building the behaviour (issue 12 items 2-5), or "not owned" for differences nobody is building.

``tests/test_socket_differential.py`` makes each a strict xfail, so a scenario that starts to
match fails until its entry here is removed; ``python -m tests.sockdiff`` marks them in its
table.
"""

from __future__ import annotations

ITEM2 = "issue 12 item 2 (urgent data)"
ITEM3 = "issue 12 item 3 (options and edges)"
ITEM4 = "issue 12 item 4 (stdlib surface, errqueue)"
ITEM5 = "issue 12 item 5 (raw and ping sockets)"
UNOWNED = "not owned by a part (reported to the lead)"
REFUSED = "refused as not modelled (the parity rule's allowed refusal)"

KNOWN: dict[str, str] = {
    # refused on purpose: not modelled, so ENOPROTOOPT as Linux gives for an option it lacks
    "ip_multicast_defaults": f"{REFUSED}: IP_MULTICAST_TTL/LOOP ENOPROTOOPT (IP multicast "
                             "is not modelled); Linux 1 and 1",
}
