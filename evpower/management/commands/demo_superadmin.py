import secrets

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from rest_framework.authtoken.models import Token

from evpower.models import Role, User


class Command(BaseCommand):
    help = "Create (or reset) the demo superadmin `admin` with a fresh random password and print it."

    def add_arguments(self, parser):
        parser.add_argument("--username", default="admin")
        parser.add_argument("--force", action="store_true", help="also when DEBUG is off")

    def handle(self, *args, username, force, **options):
        if not settings.DEBUG and not force:
            raise CommandError("Refusing to create a demo account with DEBUG off (use --force).")
        password = secrets.token_urlsafe(12)
        with transaction.atomic():
            user, _ = User.objects.get_or_create(username=username)
            user.role = Role.SUPERADMIN
            user.is_active = True
            user.set_password(password)
            user.save()
            # A reset must lock out whoever held the previous password's token.
            Token.objects.filter(user=user).delete()
        self.stdout.write(self.style.SUCCESS(f"Demo superadmin  username: {username}  password: {password}"))
