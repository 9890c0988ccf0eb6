from django.urls import include, path

from . import views

urlpatterns = [
    path("sse-test/demo", views.demo),
    path("sse-test/status", views.status),
    path("sse-test/login", views.session_login),
    path("sse-test/private/<str:topic>", views.private),
    path("sse-test/staff/<str:topic>", views.staff),
    path("sse-test/only-news/<str:topic>", views.only_news),
    path("sse-test/own/<str:topic>", views.own),
    path("sse-test/whoami", views.whoami),
    path("", include("tests.conformance.urls")),  # /sse/{topic}, /generateJwtToken
]
