from django.apps import AppConfig


class EVPowerConfig(AppConfig):
    name = "evpower"
    verbose_name = "Accounts"
