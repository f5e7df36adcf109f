"""Create the campaign's first manager (or promote an existing account).

The password comes from the environment variable named by --password-env (so it never shows in
the shell history or the process list), or is asked for twice on a terminal.
"""

import getpass
import os

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from campaigns import services


class Command(BaseCommand):
    help = "Create the campaign manager (or make an existing user the manager)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--email", default="")
        parser.add_argument(
            "--password-env",
            metavar="VAR",
            help="read the password from this environment variable instead of asking",
        )

    def handle(self, *args, username, email, password_env, **options):
        password = None
        if password_env:
            password = os.environ.get(password_env)
            if not password:
                raise CommandError(f"the environment variable {password_env} is empty or unset")
        elif options.get("interactive", True) and os.isatty(0):
            password = getpass.getpass("Password: ")
            if password != getpass.getpass("Password (again): "):
                raise CommandError("the passwords differ")
        if password:
            try:
                validate_password(password)
            except ValidationError as exc:
                raise CommandError("; ".join(exc.messages)) from None
        user, created = services.create_manager(username=username, email=email, password=password)
        if created and not password:
            self.stdout.write("No password given: the account cannot log in until one is set.")
        verb = "created" if created else "promoted to manager"
        self.stdout.write(self.style.SUCCESS(f"{user.get_username()}: {verb}."))
