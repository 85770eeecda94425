"""The source settings page sets the encoding a CSV source's files are read in (issue 16)."""

from __future__ import annotations

import pytest

from rollbook.directory.models import AuditEntry
from rollbook.sync.models import SyncSource

from .conftest import sign_in

pytestmark = pytest.mark.django_db

THRESHOLDS = {"archive_percent": "10", "update_percent": "75", "schools": ""}


def test_the_settings_form_saves_the_encoding(client, world):
    source = world.held_run.source
    sign_in(client, world.district_admin)
    url = f"/districts/{world.district.pk}/sync/sources/{source.pk}/"
    page = client.get(url).content.decode()
    assert "Encoding of the CSV files" in page
    assert "Leave blank unless the self-check says the files are not UTF-8" in page

    refused = client.post(url, THRESHOLDS | {"encoding": "klingon"})
    assert refused.status_code == 200
    assert "Unknown encoding &#x27;klingon&#x27;" in refused.content.decode()
    source.refresh_from_db()
    assert source.encoding == ""

    saved = client.post(url, THRESHOLDS | {"encoding": " cp1252 "})
    assert saved.status_code == 302
    source.refresh_from_db()
    assert source.encoding == "cp1252"
    entry = AuditEntry.objects.get(action="update_source")
    assert entry.before["encoding"] == "" and entry.after["encoding"] == "cp1252"
    assert 'value="cp1252"' in client.get(url).content.decode()

    client.post(url, THRESHOLDS)  # a post without the field (an older page) keeps it
    source.refresh_from_db()
    assert source.encoding == "cp1252"
    client.post(url, THRESHOLDS | {"encoding": ""})  # blank: UTF-8 again
    source.refresh_from_db()
    assert source.encoding == ""


def test_a_rest_source_has_no_encoding_field(client, world):
    source = SyncSource.objects.create(
        district=world.district,
        name="REST",
        kind=SyncSource.Kind.ONEROSTER_REST,
        rest_url="https://sis.example/ims/oneroster/v1p1",
        auth=SyncSource.Auth.BEARER,
    )
    sign_in(client, world.district_admin)
    url = f"/districts/{world.district.pk}/sync/sources/{source.pk}/"
    assert "Encoding of the CSV files" not in client.get(url).content.decode()
    client.post(url, THRESHOLDS | {"encoding": "cp1252"})
    source.refresh_from_db()
    assert source.encoding == ""
