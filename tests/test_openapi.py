"""The OpenAPI schema committed in docs/openapi.yaml is the one the code generates: a change to
the API without `make schema` fails here (and so in CI)."""

from pathlib import Path

from django.core.management import call_command

ROOT = Path(__file__).resolve().parent.parent
COMMITTED = ROOT / "docs" / "openapi.yaml"


def test_the_committed_schema_matches_the_code(tmp_path):
    generated = tmp_path / "openapi.yaml"
    call_command(
        "spectacular", "--lang", "en", "--file", str(generated), "--validate", "--fail-on-warn"
    )
    assert generated.read_text() == COMMITTED.read_text(), (
        "docs/openapi.yaml is stale: run `make schema` and commit it"
    )


def test_the_schema_describes_every_endpoint_and_the_token_scheme():
    text = COMMITTED.read_text()
    for path in (
        "/api/v1/referrals/:",
        "/api/v1/referrals/batch/:",
        "/api/v1/referrals/counts/:",
        "/api/v1/referrals/{id}/:",
        "/api/v1/referrals/{id}/reverify/:",
    ):
        assert path in text
    assert "bearerToken" in text and "Idempotency-Key" in text
