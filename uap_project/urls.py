"""URL configuration: the admin is the product's UI; the root redirects to it."""

from django.contrib import admin
from django.urls import path
from django.views.generic import RedirectView

admin.autodiscover()  # SimpleAdminConfig (settings.py): registered here, not at start-up

admin.site.site_header = "UAP schema audit"
admin.site.site_title = "UAP schema audit"
admin.site.index_title = "Migration history"
admin.site.site_url = None  # the admin is the whole site: no "view site" link back to itself
# The project's choice, not the app's: the audit summary box above the application list.
admin.site.index_template = "admin/schema_audit/site_index.html"

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("admin/", admin.site.urls),
]
