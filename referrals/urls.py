from django.urls import path

from . import views

app_name = "referrals"

urlpatterns = [
    path("", views.referral_list, name="list"),
    path("nuevo/", views.referral_create, name="create"),
    path("<int:pk>/", views.referral_detail, name="detail"),
]
