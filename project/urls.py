from django.contrib import admin
from django.urls import path

from . import views

urlpatterns = [
    path("", views.index, name="index"),
    path("announce", views.announce, name="announce"),
    path("admin/", admin.site.urls),
]
