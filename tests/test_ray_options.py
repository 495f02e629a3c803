"""`--ray` on the command line: what it refuses before anything starts (no cluster needed)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from bots.cli import app
from index.ray_work import RayAddressError, check_address
from tests.conftest import SAMPLES

runner = CliRunner()


@pytest.mark.parametrize(
    "address", ["auto", "local", "ray://10.0.0.5:10001", "10.0.0.5:6379", "head.example:6379"]
)
def test_cluster_addresses_are_taken(address: str) -> None:
    assert check_address(address) == address


@pytest.mark.parametrize(
    "address",
    [
        "",
        "cluster",
        "10.0.0.5",
        "10.0.0.5:port",
        "10.0.0.5:0",
        "10.0.0.5:70000",
        "http://10.0.0.5:6379",
        "ray://admin:hunter2@10.0.0.5:10001",
    ],
)
def test_other_addresses_are_refused(address: str) -> None:
    with pytest.raises(RayAddressError):
        check_address(address)


@pytest.mark.parametrize("command", [["ingest", str(SAMPLES)], ["rebuild"]])
def test_a_bad_address_is_a_usage_error_that_repeats_no_password(
    command: list[str], tmp_path: Path
) -> None:
    result = runner.invoke(app, [*command, "--ray", "ray://admin:hunter2@10.0.0.5:10001"])
    assert result.exit_code == 2
    assert "hunter2" not in result.output
    assert result.output.startswith("error: --ray takes auto, local, ray://HOST:PORT or HOST:PORT")
    assert not (tmp_path / "data" / "newsqa.sqlite3").exists()  # refused before anything


def test_web_pages_are_not_taken_with_ray(tmp_path: Path) -> None:
    page = tmp_path / "story.html"
    page.write_text("<html><title>t</title><body><p>text</p></body></html>")
    result = runner.invoke(app, ["ingest", "--ray", "local", str(page)])
    assert result.exit_code == 2
    assert "--ray reads files and folders" in result.output
