from django.contrib import admin
from django.urls import path
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView

from realtime import TopicStreamView

from . import views

urlpatterns = [
    path("", views.index, name="index"),
    path("announce", views.announce, name="announce"),
    path("items", views.items, name="items"),
    path("items/add", views.add_item, name="add-item"),
    path("items/<int:pk>/toggle", views.toggle_item, name="toggle-item"),
    path("items/<int:pk>/delete", views.delete_item, name="delete-item"),
    path("report", views.start_report, name="report"),
    # The activity feed: Server-Sent Events of the topic views.ACTIVITY, open to anyone (no hub involved).
    path("events/activity", TopicStreamView.as_view(topic=views.ACTIVITY, permission_classes=[]), name="activity"),
    path("api/token", TokenObtainPairView.as_view(), name="token"),
    path("api/token/refresh", TokenRefreshView.as_view(), name="token-refresh"),
    path("admin/", admin.site.urls),
]
