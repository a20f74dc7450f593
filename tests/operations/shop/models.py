"""The app's one model, so that a SQL file can reference a table Django made."""

from django.db import models


class Item(models.Model):
    """A row a SQL file's table points at."""

    name = models.TextField()

    class Meta:
        app_label = "shop"
