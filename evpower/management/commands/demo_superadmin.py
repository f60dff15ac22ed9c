import secrets
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from rest_framework.authtoken.models import Token

from evpower.models import Role, User


class Command(BaseCommand):
    help = (
        "Create (or reset) the demo superadmin `admin` with a fresh random password and print it; "
        "with --keep, an existing account is left as it is (bin/serve)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--username", default="admin")
        parser.add_argument("--force", action="store_true", help="also when DEBUG is off")
        parser.add_argument(
            "--keep",
            action="store_true",
            help="create the account only if it does not exist; keep its password and tokens",
        )
        parser.add_argument("--save-to", type=Path, help="file the new password is written to (mode 600)")

    def handle(self, *args, username, force, keep, save_to, **options):
        if not settings.DEBUG and not force:
            raise CommandError("Refusing to create a demo account with DEBUG off (use --force).")
        if keep:
            user = User.objects.filter(username=username).first()
            if user is not None:
                self._report_kept(user, save_to)
                return
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
        if save_to is not None:
            save_to = save_to.resolve()
            save_to.touch(mode=0o600)
            save_to.chmod(0o600)
            save_to.write_text(password + "\n")
            self.stdout.write(f"The password is saved in {save_to}; it and the account's tokens are kept.")

    def _report_kept(self, user: User, save_to: Path | None) -> None:
        saved = save_to.resolve() if save_to is not None else None
        if saved is not None and saved.is_file() and user.check_password(saved.read_text().strip()):
            self.stdout.write(
                self.style.SUCCESS(f"Demo superadmin  username: {user.username}  password in {saved}")
            )
            return
        where = f" (it is not the one in {saved})" if saved is not None else ""
        reset = f"python manage.py demo_superadmin --username {user.username}" + (
            f" --save-to {saved}" if saved is not None else ""
        )
        self.stdout.write(
            self.style.WARNING(
                f"Demo superadmin `{user.username}` exists; its password was left unchanged{where}. "
                f"To reset it: {reset}"
            )
        )
