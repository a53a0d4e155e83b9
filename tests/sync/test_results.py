"""A 200 is only believed when its body is one verdict per event, our ids."""

from __future__ import annotations

import pytest

from sync.uploader import BadResponse, check_results

IDS = ["a", "b", "c"]


def test_good_results_in_any_order():
    body = {"server_time": "x", "results": [
        {"id": "c", "status": "rejected", "error": "conflict"},
        {"id": "a", "status": "accepted"},
        {"id": "b", "status": "duplicate"}]}
    assert check_results(IDS, body) == [("c", "rejected", "conflict"), ("a", "accepted", None),
                                           ("b", "duplicate", None)]


@pytest.mark.parametrize("body", [
    None, [], "ok", {"server_time": "x"}, {"results": "all good"},
    {"results": [{"id": "a", "status": "accepted"}, {"id": "b", "status": "accepted"}]},
    {"results": [{"id": i, "status": "accepted"} for i in "abcd"]},
    {"results": [{"id": "a", "status": "accepted"}, {"id": "a", "status": "accepted"},
                 {"id": "b", "status": "accepted"}]},
    {"results": [{"id": "a", "status": "accepted"}, {"id": "b", "status": "accepted"},
                 {"id": "x", "status": "accepted"}]},
    {"results": [{"id": "a", "status": "accepted"}, {"id": "b", "status": "accepted"},
                 {"id": "c", "status": "synced"}]},
    {"results": [{"id": "a", "status": "accepted"}, {"id": "b", "status": "accepted"}, "c"]},
])
def test_bad_bodies_are_refused(body):
    with pytest.raises(BadResponse):
        check_results(IDS, body)
