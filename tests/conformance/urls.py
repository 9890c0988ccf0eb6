from django.urls import include, path, re_path

from . import clienttest, views

urlpatterns = [
    path("generateJwtToken", views.generate_jwt_token),
    path("sessionLogin", views.session_login),
    path("clientresult/<str:connection_id>", views.client_result),
    re_path(r"^redirect(?:/(?P<rest>.*))?$", views.redirect_negotiate),
    path("push/group/<str:group>", views.push_group),
    path("push/all", views.push_all),
    path("push/user/<str:user>", views.push_user),
    path("sse/<str:topic>", views.sse_topic),
    # Added for the browser tests; not part of the conformance contract.
    path("clienttest/", clienttest.page),
    path("clienttest/<str:root>/<path:path>", clienttest.asset),
    # Push from models, views and Celery tasks (tests/push).
    path("pushapp/", include("tests.pushapp.urls")),
]
