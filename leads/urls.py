from django.contrib.auth import views as auth_views
from django.urls import include, path

from . import views

urlpatterns = [
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("search/", views.search, name="search"),
    path("", views.home, name="home"),
    path("", include("leads.marketing_urls")),
    path("", include("leads.sales_urls")),
    path("", include("leads.data_urls")),
]
