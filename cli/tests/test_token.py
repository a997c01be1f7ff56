"""``kauppa token``: local tokens, organisation-bound with ``--org``."""

from __future__ import annotations

from kauppa.servicekit.auth import TokenVerifier
from kauppa.servicekit.settings import KafkaSettings, ServiceSettings


def test_kauppa_token_mints_an_organisation_bound_token():
    from kauppa.cli.main import app as cli
    from typer.testing import CliRunner

    result = CliRunner().invoke(cli, ["token", "ops", "--org", "org-a"])
    assert result.exit_code == 0, result.output
    principal = TokenVerifier(ServiceSettings(kafka=KafkaSettings(profile="local"))).verify(
        result.output.strip()
    )
    assert principal.organisation_id == "org-a" and principal.roles == {"ops"}
    assert CliRunner().invoke(cli, ["token", "ops", "--org", "a/../b"]).exit_code != 0
