from django.urls import path

from . import (
    views,
    views_admins,
    views_alerts,
    views_check,
    views_directory,
    views_merge,
    views_people,
    views_places,
    views_sources,
    views_sync,
)

app_name = "web"

# The same pages for a district (its district administrators) and for a school.
PLACE_PAGES = [
    ("", views_places.overview, "overview"),
    ("directory/", views_directory.students, "students"),
    ("directory/guardians/", views_directory.guardians, "guardians"),
    ("directory/staff/", views_directory.staff, "staff"),
    ("directory/actions/", views_directory.action, "actions"),
    ("sync/", views_sync.sync_tab, "sync"),
    ("self-check/", views_check.self_check_tab, "self-check"),
    ("merge/", views_merge.merge_tab, "merge"),
    ("merge/preview/", views_merge.merge_preview, "merge-preview"),
    ("merge/ready/", views_merge.merge_ready, "merge-ready"),
    ("merge/<int:merge_id>/undo/", views_merge.merge_undo, "merge-undo"),
    ("jobs/<int:job_id>/", views_sync.job_status, "job"),
]
# District administrators only (a 404 for anyone else, school administrators included).
DISTRICT_PAGES = [
    ("sync/sources/<int:source_id>/", views_sync.source_settings, "source"),
    ("sync/sources/rest/", views_sources.rest_source_new, "source-rest-new"),
    ("sync/sources/<int:source_id>/rest/", views_sources.rest_source, "source-rest"),
    ("sync/sources/<int:source_id>/start/", views_sources.rest_source_start, "source-start"),
    ("sync/runs/<int:run_id>/", views_sync.run_detail, "run"),
    ("sync/runs/<int:run_id>/decide/", views_sync.run_decide, "run-decide"),
    ("sync/runs/<int:run_id>/<str:what>.csv", views_sync.run_csv, "run-csv"),
    ("self-check/<int:job_id>/", views_check.check_report, "check-report"),
    ("self-check/<int:job_id>/<str:code>.csv", views_check.check_csv, "check-csv"),
    ("self-check/<int:job_id>/fix/<str:fix>/", views_check.check_fix, "check-fix"),
    ("alerts/<int:alert_id>/dismiss/", views_alerts.dismiss, "alert-dismiss"),
    ("administrators/", views_admins.administrators, "administrators"),
    (
        "administrators/<int:role_id>/<str:change>/",
        views_admins.administrator_change,
        "administrator-change",
    ),
    ("schools/", views_admins.schools, "schools"),
    ("schools/<int:school_id>/rename/", views_admins.school_rename, "school-rename"),
]

urlpatterns = [
    path("", views.home, name="home"),
    path("sign-in/", views.SignInView.as_view(), name="sign-in"),
    path("sign-out/", views.SignOutView.as_view(), name="sign-out"),
    path("password/", views.PasswordChangeView.as_view(), name="password-change"),
    path(
        "password/set/<uidb64>/<token>/",
        views_admins.PasswordSetView.as_view(),
        name="password-set",
    ),
    path("students/<int:pk>/", views_people.student, name="student"),
    path("accounts/<int:pk>/", views_people.account, name="account"),
    *(
        path(f"{prefix}/<int:pk>/{route}", view, {"kind": kind}, name=f"{kind}-{name}")
        for kind, prefix in (("district", "districts"), ("school", "schools"))
        for route, view, name in PLACE_PAGES
    ),
    *(
        path(f"districts/<int:pk>/{route}", view, {"kind": "district"}, name=f"district-{name}")
        for route, view, name in DISTRICT_PAGES
    ),
]
