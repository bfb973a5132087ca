"""`X-Request-ID` (http-api.md 1): the caller's value when it is 1-64 printable ASCII
characters (the space included), else a generated one."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("given", ["a", "req 42", "x" * 64, "~!@#$%^&*()_+{}|:<>?"])
def test_a_printable_ascii_id_comes_back_unchanged(client, given):
    assert client.get("/health", headers={"X-Request-ID": given}).headers["X-Request-ID"] == given


@pytest.mark.parametrize("given", ["x" * 65, "caf\u00e9", "tab\there"])
def test_any_other_id_is_replaced_by_a_generated_one(client, given):
    returned = client.get("/health", headers={"X-Request-ID": given}).headers["X-Request-ID"]
    assert returned and returned != given
