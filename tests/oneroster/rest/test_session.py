"""What the network and the SIS can do wrong, page by page (session.py, paging.py, retry.py)."""

from __future__ import annotations

import pytest

from rollbook.oneroster import read_bundle
from rollbook.oneroster.rest import RestSource, fetch_bundle

from .conftest import failure, fast, source_for
from .server import Fault, OneRosterServer


def test_429_with_retry_after_is_waited_out_and_the_fetch_completes(records, tmp_path):
    faults = [Fault("status", "users", offset=25, status=429, retry_after="1", times=2)]
    with OneRosterServer(records["1.2"], faults=faults) as sis:
        report = fetch_bundle(source_for(sis), tmp_path / "f", options=fast())
    assert report.retries == 2 and faults[0].fired == 2
    assert report.collections["users"].records == len(records["1.2"]["users"])


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_are_retried(status, records, tmp_path):
    faults = [Fault("status", "enrollments", offset=0, status=status, times=3)]
    with OneRosterServer(records["1.1"], version="1.1", faults=faults) as sis:
        report = fetch_bundle(source_for(sis), tmp_path / "f", options=fast())
    assert report.retries == 3
    assert read_bundle(tmp_path / "f").model.enrollments.num_rows == len(
        records["1.1"]["enrollments"]
    )


def test_a_slow_page_times_out_and_is_asked_again(records, tmp_path):
    faults = [Fault("slow", "classes", offset=25)]
    with OneRosterServer(records["1.2"], faults=faults) as sis:
        report = fetch_bundle(source_for(sis), tmp_path / "f", options=fast(timeout=0.3))
    assert report.retries == 1
    assert report.collections["classes"].records == len(records["1.2"]["classes"])


def test_a_page_that_stays_slow_fails_with_the_timeout_named(records, tmp_path):
    faults = [Fault("slow", "classes", offset=0, times=0)]
    server = OneRosterServer(records["1.2"], faults=faults)
    caught = failure(server, tmp_path / "f", timeout=0.2)
    assert caught.collection == "classes" and caught.page == 1
    assert "no answer within 0.2 s" in caught.reason and "too slow" in caught.hint


def test_malformed_json_once_is_asked_again(records, tmp_path):
    faults = [Fault("malformed", "orgs", offset=0)]
    with OneRosterServer(records["1.2"], faults=faults) as sis:
        report = fetch_bundle(source_for(sis), tmp_path / "f", options=fast())
    assert report.retries == 1


def test_malformed_json_every_time_fails(records, tmp_path):
    server = OneRosterServer(records["1.2"], faults=[Fault("malformed", "orgs", times=0)])
    caught = failure(server, tmp_path / "f")
    assert caught.collection == "orgs" and "not valid JSON" in caught.reason


def test_a_wrong_envelope_fails_naming_the_keys_found(records, tmp_path):
    server = OneRosterServer(records["1.2"], faults=[Fault("envelope", "courses", offset=25)])
    caught = failure(server, tmp_path / "f")
    assert (caught.collection, caught.page) == ("courses", 2)
    assert "no 'courses' list (keys found: data)" in caught.reason


def test_a_web_page_instead_of_json_points_at_the_base_url(records, tmp_path):
    caught = failure(OneRosterServer(records["1.2"], faults=[Fault("html")]), tmp_path / "f")
    assert "web page" in caught.reason and "base URL" in caught.hint


def test_a_repeated_page_fails(records, tmp_path):
    server = OneRosterServer(records["1.1"], version="1.1", faults=[Fault("repeat", "users", 50)])
    caught = failure(server, tmp_path / "f")
    assert (caught.collection, caught.page) == ("users", 3)
    assert "repeats page 2" in caught.reason


def test_a_link_loop_fails(records, tmp_path):
    server = OneRosterServer(records["1.2"], paging="link", faults=[Fault("loop", "users", 50)])
    caught = failure(server, tmp_path / "f")
    assert caught.collection == "users" and "loop" in caught.reason


def test_a_link_to_another_server_is_not_followed(records, tmp_path):
    server = OneRosterServer(records["1.2"], faults=[Fault("foreign", "orgs", 0)])
    caught = failure(server, tmp_path / "f", page_size=2)
    assert "another server (other.invalid)" in caught.reason
    assert caught.collection == "orgs"


def test_records_shifting_between_pages_fail_the_collection(records, tmp_path):
    data = {k: list(v) for k, v in records["1.2"].items()}
    users = data["users"]
    # the last user of page 2 shows again at the top of page 3 (as if a record was inserted
    # before it while page 2 was being read), so the last user of all is never served
    data["users"] = users[:50] + [users[49]] + users[50:-1]
    caught = failure(OneRosterServer(data, paging="offset"), tmp_path / "f")
    assert caught.collection == "users" and caught.page is None
    assert "1 sourcedId(s) came on two different pages (e.g. pages 2 and 3)" in caught.reason


def test_a_sourcedid_repeated_within_one_page_is_left_to_the_reader(records, tmp_path):
    data = {k: list(v) for k, v in records["1.2"].items()}
    data["courses"] = data["courses"][:3] + [data["courses"][2]] + data["courses"][3:]
    with OneRosterServer(data) as sis:
        fetch_bundle(source_for(sis), tmp_path / "f", options=fast())
    assert read_bundle(tmp_path / "f").findings.counts()["OR-ROW-DUPLICATE-ID"] == 1


def test_a_count_short_of_x_total_count_fails(records, tmp_path):
    data = {k: list(v) for k, v in records["1.2"].items()}
    server = OneRosterServer(data, paging="both")
    # the SIS announces one record more than it serves (one vanished during the fetch)
    server.data = dict(data)
    server.data["classes"] = _Announcing(data["classes"])
    caught = failure(server, tmp_path / "f")
    assert caught.collection == "classes"
    assert f"announced {len(data['classes']) + 1} records" in caught.reason


class _Announcing(list):
    """A list one longer than it serves (for X-Total-Count)."""

    def __len__(self) -> int:
        return super().__len__() + 1


def test_the_page_cap_stops_a_runaway_server(records, tmp_path):
    caught = failure(OneRosterServer(records["1.2"]), tmp_path / "f", max_pages=3)
    assert "more than 3 pages" in caught.reason


def test_a_vendor_path_prefix_is_kept(records, tmp_path):
    with OneRosterServer(records["1.1"], version="1.1", prefix="/api/v2/ims/oneroster/v1p1") as sis:
        fetch_bundle(source_for(sis), tmp_path / "f", options=fast())
        assert sis.requests and all(not p.startswith("/") for p, _ in sis.requests)


@pytest.mark.parametrize(
    "url",
    ["ftp://sis.example/x", "https://user:pw@sis.example/ims", "https://sis.example/x?key=1"],
)
def test_a_base_url_that_cannot_be_right_is_refused_at_once(url):
    with pytest.raises(ValueError, match="base URL"):
        RestSource(url, "1.2", None)  # type: ignore[arg-type]


def test_a_fetch_failure_survives_pickling():
    import pickle

    from rollbook.oneroster.rest import FetchFailed

    exc = FetchFailed("x went wrong", "check y", collection="users", page=3, status=503)
    back = pickle.loads(pickle.dumps(exc))
    assert back.to_dict() == exc.to_dict() and str(back) == str(exc)
