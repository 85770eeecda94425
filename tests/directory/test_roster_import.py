"""Manual roster entry: all or nothing, with line and column for every problem."""

import csv
import io

import pytest

from rollbook.directory.models import Account, AuditEntry, GuardianLink, Student
from rollbook.directory.roster_import import RosterImportError, import_roster
from rollbook.directory.services import Person, add_staff

pytestmark = pytest.mark.django_db

HEADER = [
    "student_given_name",
    "student_family_name",
    "grade",
    "guardian1_given_name",
    "guardian1_family_name",
    "guardian1_email",
    "guardian1_phone",
    "guardian2_given_name",
    "guardian2_family_name",
    "guardian2_email",
    "guardian2_phone",
]


def write(tmp_path, rows, header=HEADER):
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(header)
    w.writerows(rows)
    path = tmp_path / "roster.csv"
    path.write_text(out.getvalue(), encoding="utf-8")
    return path


GOOD = [
    [
        "Mia",
        "Garcia",
        "3",
        "Luis",
        "Garcia",
        "luis@example.com",
        "(212) 555-0101",
        "Rosa",
        "Garcia",
        "rosa@example.com",
        "",
    ],
    ["Leo", "Garcia", "KG", "Luis", "Garcia", "LUIS@example.com ", "212 555 0101", "", "", "", ""],
    ["Ada", "Okafor", "11", "Chidi", "Okafor", "", "(415) 555-0102", "", "", "", ""],
]


def test_imports_students_guardians_and_links(tmp_path, school, actor):
    result = import_roster(write(tmp_path, GOOD), school.district, school, actor)
    assert result.students_created == 3
    assert result.accounts_created == 3  # Luis once for both siblings, Rosa, Chidi
    assert result.guardian_links_created == 4
    students = Student.objects.filter(school=school)
    assert {s.origin for s in students} == {"manual"}
    assert {s.grade for s in students} == {"03", "KG", "11"}
    luis = Account.objects.get(email="luis@example.com")
    assert luis.phone == "+12125550101"
    assert not luis.has_usable_password()
    assert set(
        GuardianLink.objects.filter(account=luis).values_list("student__given_name", flat=True)
    ) == {"Mia", "Leo"}
    assert AuditEntry.objects.filter(note="manual roster import").count() == 3 + 3 + 4


def test_an_existing_account_is_reused_only_on_exact_name_email_phone(tmp_path, school, actor):
    teacher, _ = add_staff(
        school,
        Person.parse("Luis", "Garcia", "luis@example.com", "(212) 555-0101", "US"),
        "teacher",
        actor,
    )
    result = import_roster(write(tmp_path, GOOD[:1]), school.district, school, actor)
    assert result.accounts_reused == 1
    assert GuardianLink.objects.get(student__given_name="Mia", account=teacher)
    assert Account.objects.filter(email="luis@example.com").count() == 1


def test_an_email_of_another_person_is_refused_and_nothing_is_imported(tmp_path, school, actor):
    add_staff(
        school, Person.parse("Luisa", "Garcia", "luis@example.com", None, "US"), "teacher", actor
    )
    with pytest.raises(RosterImportError) as info:
        import_roster(write(tmp_path, GOOD), school.district, school, actor)
    assert [(p.line, p.column) for p in info.value.problems] == [
        (2, "guardian1_email"),
        (3, "guardian1_email"),
    ]
    assert "belong to another person's account" in str(info.value)
    assert Student.objects.count() == 0


def test_two_people_in_one_file_cannot_share_an_email(tmp_path, school, actor):
    rows = [GOOD[0], ["Ben", "Ng", "2", "Bo", "Ng", "luis@example.com", "", "", "", "", ""]]
    with pytest.raises(RosterImportError) as info:
        import_roster(write(tmp_path, rows), school.district, school, actor)
    (problem,) = info.value.problems
    assert (problem.line, problem.column, problem.column_number) == (3, "guardian1_email", 6)
    assert "also given on line 2" in problem.message
    assert Account.objects.count() == 0


@pytest.mark.parametrize(
    ("row", "column", "column_number", "message"),
    [
        (
            ["Mia", "Garcia", "3", "Luis", "Garcia", "luis@", "", "", "", "", ""],
            "guardian1_email",
            6,
            "not a valid email",
        ),
        (
            ["Mia", "Garcia", "3", "Luis", "Garcia", "", "555-CALL", "", "", "", ""],
            "guardian1_phone",
            7,
            "not a valid phone",
        ),
        (["Mia", "Garcia", "14", "", "", "", "", "", "", "", ""], "grade", 3, "not a grade"),
        (["", "Garcia", "3", "", "", "", "", "", "", "", ""], "student_given_name", 1, "empty"),
        (
            ["Mia", "Garcia", "3", "", "Garcia", "a@example.com", "", "", "", "", ""],
            "guardian1_given_name",
            4,
            "no given name",
        ),
        (
            ["Mia", "Garcia", "3", "Luis", "Garcia", "", "", "", "", "", ""],
            "guardian1_email",
            6,
            "needs an email or a phone",
        ),
    ],
)
def test_a_bad_row_names_line_and_column_and_imports_nothing(
    tmp_path, school, actor, row, column, column_number, message
):
    with pytest.raises(RosterImportError) as info:
        import_roster(write(tmp_path, [GOOD[2], row]), school.district, school, actor)
    (problem,) = info.value.problems
    assert (problem.line, problem.column, problem.column_number) == (3, column, column_number)
    assert message in problem.message
    assert Student.objects.count() == 0 and Account.objects.count() == 0


def test_a_missing_column_is_reported(tmp_path, school, actor):
    with pytest.raises(RosterImportError, match="the column 'grade' is missing"):
        import_roster(
            write(
                tmp_path, [["Mia", "Garcia"]], header=["student_given_name", "student_family_name"]
            ),
            school.district,
            school,
            actor,
        )


def test_an_unknown_column_is_reported_with_the_known_ones(tmp_path, school, actor):
    with pytest.raises(RosterImportError, match="unknown column 'guardian1_mail'") as info:
        import_roster(
            write(
                tmp_path,
                [["Mia", "Garcia", "3", "x"]],
                header=["student_given_name", "student_family_name", "grade", "guardian1_mail"],
            ),
            school.district,
            school,
            actor,
        )
    assert info.value.problems[0].column_number == 4


def test_an_unknown_school_in_a_row_is_reported(tmp_path, school, actor):
    path = write(
        tmp_path,
        [["Mia", "Garcia", "3", "Nowhere High"]],
        header=["student_given_name", "student_family_name", "grade", "school"],
    )
    with pytest.raises(RosterImportError, match="no school 'Nowhere High'"):
        import_roster(path, school.district, None, actor)


def test_the_school_column_may_name_a_school(tmp_path, school, other_school, actor):
    path = write(
        tmp_path,
        [["Mia", "Garcia", "3", "jefferson middle"]],
        header=["student_given_name", "student_family_name", "grade", "school"],
    )
    import_roster(path, school.district, school, actor)
    assert Student.objects.get().school == other_school


def test_a_row_with_the_wrong_number_of_fields(tmp_path, school, actor):
    path = tmp_path / "r.csv"
    path.write_text("student_given_name,student_family_name,grade\nMia,Garcia\n")
    with pytest.raises(RosterImportError, match="line 2: this row has 2 fields"):
        import_roster(path, school.district, school, actor)


def test_a_byte_order_mark_and_blank_lines_are_fine(tmp_path, school, actor):
    path = tmp_path / "r.csv"
    path.write_text("\ufeffstudent_given_name,student_family_name,grade\n\nMia,Garcia,1\n")
    assert import_roster(path, school.district, school, actor).students_created == 1


def test_a_file_that_is_not_utf8_is_a_clear_error(tmp_path, school, actor):
    path = tmp_path / "r.csv"
    path.write_bytes(
        "student_given_name,student_family_name,grade\nJos\xe9,G,1\n".encode("latin-1")
    )
    with pytest.raises(Exception, match="not UTF-8"):
        import_roster(path, school.district, school, actor)
