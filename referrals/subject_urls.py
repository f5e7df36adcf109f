"""A data subject's requests, answered by the campaign's managers (/privacidad/titulares/)."""

from django.urls import path

from . import subject_views

app_name = "subjects"

urlpatterns = [
    path("", subject_views.lookup, name="lookup"),
    path("archivo/", subject_views.report, name="report"),
    path("corregir/", subject_views.correct, name="correct"),
    path("borrar/", subject_views.erase, name="erase"),
]
