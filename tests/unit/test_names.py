"""Layer names: valid for every layer whatever the input, and a connection's group names its connection."""

from __future__ import annotations

import pytest
from channels.layers import BaseChannelLayer

from realtime import names
from realtime.registry import new_id

VALID = BaseChannelLayer()


def test_a_connection_group_names_the_connection_it_belongs_to():
    connection_id = new_id()
    group = names.connection(connection_id)
    assert VALID.require_valid_group_name(group)
    assert names.connection_id_of(group) == connection_id


@pytest.mark.parametrize("foreign", ["", "has space", "ünïcode", "x" * 65, "a!b", "a.b"])
def test_strings_that_cannot_be_connection_ids_get_a_valid_group_of_no_connection(foreign):
    group = names.connection(foreign)
    assert VALID.require_valid_group_name(group)
    assert names.connection_id_of(group) is None
    assert group == names.connection(foreign)  # the same string always reaches the same (empty) group


def test_other_groups_name_no_connection():
    for group in (names.hub_all("ChatHub"), names.group("ChatHub", "room"), names.user("ChatHub", "7")):
        assert VALID.require_valid_group_name(group)
        assert names.connection_id_of(group) is None
