"""``sdk kernels info`` names the variant of every kernel."""

from __future__ import annotations

import json

from click.testing import CliRunner

from sdk.kernels.cli import kernels


def test_info_table_and_json() -> None:
    r = CliRunner().invoke(kernels, ["info"])
    assert r.exit_code == 0, r.output
    assert "u8_resize_bilinear_normalize_chw__" in r.output
    r = CliRunner().invoke(kernels, ["info", "--json"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    assert data["isa"] in ("neon", "scalar")
    assert data["kernels"]["softmax"].startswith("f32_softmax__")
