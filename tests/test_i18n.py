"""The English catalogue: complete, and its committed .mo compiled from the current .po."""

import ast
import gettext
import re

from django.conf import settings

PO = settings.BASE_DIR / "locale" / "en" / "LC_MESSAGES" / "django.po"
MO = PO.with_suffix(".mo")


def po_entries() -> list[dict]:
    """msgid/msgid_plural/msgstr[...] of every entry (a small reader: enough for our .po)."""
    entries, current, key = [], {}, None
    for line in PO.read_text(encoding="utf-8").splitlines():
        match = re.match(r'^(msgid|msgid_plural|msgstr(?:\[\d\])?) (".*")$', line)
        if match:
            if match.group(1) == "msgid" and current:
                entries.append(current)
                current = {}
            key = match.group(1)
            current[key] = ast.literal_eval(match.group(2))
        elif line.startswith('"') and key:
            current[key] += ast.literal_eval(line)
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
