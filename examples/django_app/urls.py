from __future__ import annotations

from django.urls import path
from examples.django_app.views import Notes, health

urlpatterns = [
    path("health", health),
    path("notes", Notes.as_view()),
]
