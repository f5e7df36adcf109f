"""`python -m tests.legacy_portal.manage <command>`: the legacy portal's manage.py."""

import os
import sys

if __name__ == "__main__":
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.legacy_portal.settings"
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
