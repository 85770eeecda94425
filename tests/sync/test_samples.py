"""Pinned outcomes of syncing every shared third-party sample (skipped when they are absent).

Each set is synced into a fresh district, step by step; every step's status, its counts per
entity and the sync's own issue codes are pinned. The reader's findings are pinned in
tests/oneroster/test_samples.py.
"""

from __future__ import annotations

import pytest

from rollbook.directory.audit import Actor
from rollbook.directory.models import District
from rollbook.sync import services

pytestmark = pytest.mark.django_db

KEYS = ("created", "updated", "archived", "reactivated", "skipped", "adopted")
SETS = {
    "moodle Test_full_data_set": ["moodle-enrol-oneroster/Test_full_data_set"],
    "moodle Test_minimal_data_set": ["moodle-enrol-oneroster/Test_minimal_data_set"],
    "moodle v1p2_full_dataset then the 1.2 delta": [
        "moodle-enrol-oneroster/v1p2_full_dataset",
        "moodle-enrol-oneroster/oneroster_test_data",
    ],
    "moodle test01 (errors)": ["moodle-enrol-oneroster/test01"],
    "lepo en": ["lepo-roster-hub/sample_csv/en"],
    "lepo ja zip": ["lepo-roster-hub/sample_csv/ja/oneroster.zip"],
    "oat 1.1": ["oat-sa-oneroster-import/OneRosterv1p1BaseCSV"],
    "oat 1.0": ["oat-sa-oneroster-import/oneRoster1.0"],
    "nicelion outputs": ["nicelion-oneroster-mocker/outputs"],
    "nicelion header-only template": ["nicelion-oneroster-mocker/oneroster-example-csv"],
    "rjeike five snapshots": [
        "rjeike-oneroster-net/CSVSample",
        "rjeike-oneroster-net/CSVSample/Step1-UpdateCourse",
        "rjeike-oneroster-net/CSVSample/Step2-AddCourse",
        "rjeike-oneroster-net/CSVSample/Step3-DeleteCourse",
        "rjeike-oneroster-net/CSVSample/Step4-AddClass",
    ],
}

EXPECTED = {
    "moodle Test_full_data_set": [
        [
            "applied",
            {
                "school": {"created": 1},
                "session": {"created": 3},
                "class": {"created": 1},
                "student": {"created": 3},
                "person": {"created": 3},
                "staff_role": {"created": 2},
                "guardian_link": {"created": 1},
                "enrollment": {"created": 3, "skipped": 3},
            },
            ["SYNC-PHONE-UNUSABLE", "SYNC-REFERENCE-MISSING"],
        ]
    ],
    "moodle Test_minimal_data_set": [
        [
            "applied",
            {
                "school": {"created": 1},
                "session": {"created": 5},
                "class": {"created": 2},
                "student": {"created": 3},
                "person": {"created": 2},
                "staff_role": {"created": 2},
                "enrollment": {"created": 6},
            },
            [],
        ]
    ],
    "moodle v1p2_full_dataset then the 1.2 delta": [
        [
            "applied",
            {
                "school": {"created": 1},
                "session": {"created": 3},
                "class": {"created": 1},
                "student": {"created": 3},
                "person": {"created": 3},
                "staff_role": {"created": 3},
                "guardian_link": {"created": 2},
                "enrollment": {"created": 3, "skipped": 3},
            },
            ["SYNC-PHONE-UNUSABLE", "SYNC-REFERENCE-MISSING"],
        ],
        [
            "applied",
            {
                "school": {"created": 1},
                "session": {"created": 1},
                "course": {"created": 1},
                "class": {"created": 1},
                "student": {"created": 1},
                "enrollment": {"created": 1},
            },
            [],
        ],
    ],
    "moodle test01 (errors)": [["failed", {}, []]],
    "lepo en": [
        [
            "applied",
            {
                "school": {"created": 1},
                "session": {"created": 4},
                "course": {"created": 2},
                "class": {"created": 5},
                "student": {"created": 20},
                "enrollment": {"created": 30},
            },
            [],
        ]
    ],
    "lepo ja zip": [
        [
            "applied",
            {
                "school": {"created": 1},
                "session": {"created": 4},
                "course": {"created": 2},
                "class": {"created": 5},
                "student": {"created": 20},
                "enrollment": {"created": 30},
            },
            [],
        ]
    ],
    "oat 1.1": [
        [
            "applied",
            {
                "school": {"created": 2},
                "class": {"created": 3},
                "student": {"created": 2},
                "enrollment": {"created": 3},
            },
            [],
        ]
    ],
    "oat 1.0": [
        [
            "applied",
            {
                "school": {"created": 2},
                "class": {"created": 3},
                "student": {"created": 2},
                "enrollment": {"created": 3},
            },
            [],
        ]
    ],
    "nicelion outputs": [
        [
            "applied",
            {
                "school": {"created": 1},
                "student": {"created": 2},
                "person": {"created": 2},
                "staff_role": {"created": 1},
                "guardian_link": {"created": 2},
            },
            [],
        ]
    ],
    "nicelion header-only template": [["applied", {}, []]],
    "rjeike five snapshots": [
        [
            "applied",
            {
                "school": {"created": 2},
                "session": {"created": 3},
                "course": {"created": 2},
                "class": {"created": 1},
                "student": {"created": 1},
            },
            [],
        ],
        ["applied", {}, []],
        ["applied", {}, []],
        ["applied", {}, []],
        [
            "applied",
            {
                "school": {"created": 1},
                "course": {"created": 2, "updated": 2},
                "class": {"created": 1},
            },
            [],
        ],
    ],
}


@pytest.mark.parametrize("name", sorted(SETS))
def test_syncing_a_shared_sample(name, samples, tmp_path, settings):
    settings.ROLLBOOK_HOME = tmp_path
    source = services.get_source(District.objects.create(name=name))
    outcome = []
    for step in SETS[name]:
        run = services.sync_bundle(source, samples / step, Actor(label="test"), approve=True)
        counts = (run.stats.get("outcome") or {}).get("counts", {})
        outcome.append(
            [
                run.status,
                {
                    entity: {k: v for k, v in c.items() if v and k in KEYS}
                    for entity, c in counts.items()
                    if any(c.get(k) for k in KEYS)
                },
                sorted({i.code for i in run.issues.filter(code__startswith="SYNC")}),
            ]
        )
    assert outcome == EXPECTED[name]
