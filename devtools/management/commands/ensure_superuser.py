import os

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = (
        "Creates the admin named by DJANGO_SUPERUSER_USERNAME/_PASSWORD/_EMAIL once; "
        "does nothing when they are unset or the user exists."
    )

    def handle(self, *args, **options):
        username = os.environ.get("DJANGO_SUPERUSER_USERNAME")
        password = os.environ.get("DJANGO_SUPERUSER_PASSWORD")
        if not username or not password:
            return
        User = get_user_model()
        if User.objects.filter(username=username).exists():
            self.stdout.write(f"superuser {username!r} already exists")
            return
        User.objects.create_superuser(
            username=username, password=password, email=os.environ.get("DJANGO_SUPERUSER_EMAIL", "")
        )
        self.stdout.write(self.style.SUCCESS(f"superuser {username!r} created"))
