from django.urls import path

from . import views

app_name = "campaigns"

urlpatterns = [
    path("", views.team_home, name="home"),
    path("invitaciones/", views.invitation_create, name="invitation-create"),
    path("invitaciones/<int:pk>/revocar/", views.invitation_revoke, name="invitation-revoke"),
    path("miembros/<int:pk>/", views.member_update, name="member-update"),
    path("equipos/<int:pk>/meta/", views.team_goal, name="team-goal"),
]
