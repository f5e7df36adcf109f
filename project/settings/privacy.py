"""Personal data (Ley 1581 de 2012): the data policy and privacy notice, the audit log's keyed
hash, retention, and the daily caps against bulk abuse."""

from .env import duration, env, refuse_placeholder

# Who answers for the data (the "responsable del tratamiento") and how people reach them; shown
# on the privacy notice and the data policy. An admin-published version (Protección de datos →
# Versiones de la política) replaces these texts; without one, this built-in version is in force.
DATA_CONTROLLER_NAME = env.str("DATA_CONTROLLER_NAME", default="")
DATA_CONTROLLER_CONTACT = env.str("DATA_CONTROLLER_CONTACT", default="")
DATA_POLICY_VERSION = env.str("DATA_POLICY_VERSION", default="2026-1")
# Empty: the portal's default texts.
DATA_POLICY_TEXT = env.str("DATA_POLICY_TEXT", default="")
PRIVACY_NOTICE_TEXT = env.str("PRIVACY_NOTICE_TEXT", default="")

# The audit log names a person whose data was deleted by a keyed hash of the cédula, never the
# cédula: HMAC-SHA256 with this key (empty: derived from SECRET_KEY). Keep it secret: 10-digit
# numbers are few enough to try them all against a known key.
AUDIT_HASH_KEY = env.str("AUDIT_HASH_KEY", default="")
if AUDIT_HASH_KEY:
    refuse_placeholder("AUDIT_HASH_KEY", AUDIT_HASH_KEY)  # .env.example's, copied unchanged

# Retention: a referral is deleted (with its attempts' answers and import copies) this many days
# after its last activity; the rows an import file left in its batch, this many days after upload.
DATA_RETENTION_DAYS = env.int("DATA_RETENTION_DAYS", default=365)
IMPORT_ROWS_RETENTION_DAYS = env.int("IMPORT_ROWS_RETENTION_DAYS", default=30)
RETENTION_PURGE_EVERY = duration("RETENTION_PURGE_EVERY", "6h")

# New referrals a person may register in a day (form, import rows, API; a duplicate attempt
# counts too). Re-verifications have their own cap (REVERIFY_DAILY_CAP, campaigns.py).
NEW_REFERRALS_DAILY_CAP = env.int("NEW_REFERRALS_DAILY_CAP", default=1000)
