"""The English catalogue: complete, and its committed .mo compiled from the current .po."""

import ast
import gettext
import re
import shutil
import subprocess
import sys
from pathlib import Path

from django.conf import settings

from tests.procs import child_env

PO = settings.BASE_DIR / "locale" / "en" / "LC_MESSAGES" / "django.po"
MO = PO.with_suffix(".mo")


def po_entries(po: Path = PO) -> list[dict]:
    """msgid/msgid_plural/msgstr[...] of every entry (a small reader: enough for our .po)."""
    entries, current, key = [], {}, None
    for line in po.read_text(encoding="utf-8").splitlines():
        match = re.match(r'^(msgid|msgid_plural|msgstr(?:\[\d\])?) (".*")$', line)
        if match:
            if match.group(1) == "msgid" and "msgid" in current:
                entries.append(current)
                current = {}
            key = match.group(1)
            current[key] = ast.literal_eval(match.group(2))
        elif line.startswith('"') and key:
            current[key] += ast.literal_eval(line)
        elif line.startswith("#,") and "fuzzy" in line:  # flags open the next entry
            if "msgid" in current:
                entries.append(current)
            current, key = {"fuzzy": True}, None
        elif line.startswith("#~"):
            key = None
    if current:
        entries.append(current)
    return [e for e in entries if e.get("msgid")]


def test_every_entry_is_translated_and_not_fuzzy():
    text = PO.read_text(encoding="utf-8")
    assert "#, fuzzy" not in text
    for entry in po_entries():
        translations = [v for k, v in entry.items() if k.startswith("msgstr")]
        assert translations and all(translations), entry["msgid"]


def test_committed_mo_matches_the_po():
    with MO.open("rb") as handle:
        catalogue = gettext.GNUTranslations(handle)
    for entry in po_entries():
        if "msgid_plural" in entry:
            assert (
                catalogue.ngettext(entry["msgid"], entry["msgid_plural"], 1) == entry["msgstr[0]"]
            )
            assert (
                catalogue.ngettext(entry["msgid"], entry["msgid_plural"], 5) == entry["msgstr[1]"]
            )
        else:
            assert catalogue.gettext(entry["msgid"]) == entry["msgstr"], (
                f"{MO.name} is stale: run `make messages`"
            )


# What `make messages` leaves out of the catalogue (not the portal's texts).
NOT_THE_PORTAL = [".venv", ".tools", ".git", "scraping", "simulator", "harness", "tests",
                  "benchmarks", "staticfiles", "test-artifacts", "var", "node_modules"]  # fmt: skip


def test_every_text_of_the_code_has_an_english_translation(tmp_path):
    """`makemessages` over a copy of the code: every text it finds must already be translated in
    the committed catalogue. A text added to the code but never to django.po would show in
    Spanish in the English UI (a form's empty choice once did, on the team page)."""
    root = settings.BASE_DIR
    copy = tmp_path / "code"
    heavy = [".venv", ".tools", ".git", "staticfiles", "test-artifacts", "var", "node_modules"]
    shutil.copytree(root, copy, ignore=shutil.ignore_patterns(*heavy, "*.sqlite3*", "__pycache__"))
    ignores = [f"--ignore={name}" for name in NOT_THE_PORTAL]
    result = subprocess.run(
        [sys.executable, "manage.py", "makemessages", "-l", "en", "--no-location", *ignores],
        cwd=copy,
        env=child_env(DEBUG="1", PYTHONPATH=str(copy)),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr
    untranslated = [
        entry["msgid"]
        for entry in po_entries(copy / "locale" / "en" / "LC_MESSAGES" / "django.po")
        if entry.get("fuzzy") or not all(v for k, v in entry.items() if k.startswith("msgstr"))
    ]
    assert not untranslated, untranslated
