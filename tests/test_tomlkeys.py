"""``ixsim.tomlkeys.find_line``: the line a topology error points at."""

from __future__ import annotations

import textwrap

import pytest

from ixsim.tomlkeys import find_line, split_key

TEXT = textwrap.dedent('''
    # a comment
    [world]
    seed = 3

    [hosts.a]
    addresses = ["10.0.0.1/24"]
    routes = [
      { dst = "0.0.0.0/0", via = "10.0.0.254" },
      { dst = "10.1.0.0/16",
        via = "10.0.0.253" },
    ]
    note = """
    fake = 1
    [hosts.fake]
    """
    [hosts.a.sysctls]
    "net.ipv4.tcp_sack" = 0
    net.core.somaxconn = 64

    [hosts."b.c"]
    nics = 2

    [[cables]]
    ends = ["a.eth0", "b.eth0"]

    [[cables]]
    ends = ["a.eth1", "b.eth1"]
    loss = 0.1
    [switches.sw0]
    port.2.vlan = 10
''').lstrip("\n")


@pytest.mark.parametrize("path, line", [
    (("world",), 2),
    (("world", "seed"), 3),
    (("hosts", "a"), 5),
    (("hosts", "a", "addresses"), 6),
    (("hosts", "a", "addresses", 0), 6),
    (("hosts", "a", "routes"), 7),
    (("hosts", "a", "routes", 0, "via"), 8),
    (("hosts", "a", "routes", 1, "dst"), 8),  # first 'dst' after the key: good enough
    (("hosts", "a", "missing"), 5),  # a missing key: its table
    (("hosts", "a", "sysctls"), 16),
    (("hosts", "a", "sysctls", "net.ipv4.tcp_sack"), 17),
    (("hosts", "a", "sysctls", "net", "core", "somaxconn"), 18),
    (("hosts", "b.c", "nics"), 21),
    (("cables", 0, "ends"), 24),
    (("cables", 1), 26),
    (("cables", 1, "ends"), 27),
    (("cables", 1, "loss"), 28),
    (("switches", "sw0", "port", "2", "vlan"), 30),
    (("hubs", "h"), 0),  # not in the text at all
])
def test_find_line(path, line):
    assert find_line(TEXT, path) == line


def test_lines_inside_multiline_strings_are_not_keys():
    assert find_line(TEXT, ("hosts", "fake")) == 5  # only [hosts.a] matched: prefix "hosts"
    assert find_line(TEXT, ("hosts", "a", "fake")) == 5


def test_split_key():
    assert split_key('a."b.c".d') == ("a", "b.c", "d")
    assert split_key("a . b") == ("a", "b")
    assert split_key("'x y'") == ("x y",)
    assert split_key("a b") is None
    assert split_key("") is None
