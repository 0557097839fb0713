"""The differential socket suite: the same scenarios against Linux's sockets (two network
namespaces) and ixsim's (two hosts on a cable), observation by observation (issue 12).

``tests/test_socket_differential.py`` runs every scenario as a test; ``python -m
tests.sockdiff`` prints the match table.  See docs/sockets.md.
"""

from tests.sockdiff import scen_data, scen_opts, scen_poll, scen_tcp  # noqa: F401 - they register
from tests.sockdiff.api import SCENARIOS, Net, Scenario, scenario

__all__ = ["SCENARIOS", "Net", "Scenario", "scenario"]
