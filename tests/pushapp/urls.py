from django.urls import path

from . import views

urlpatterns = [
    path("ops", views.run_op),
    path("async-ops", views.run_async_op),
    path("orders/<int:pk>", views.order),
    path("tasks/<str:name>", views.start_task),
]
