"""``sdk kernels``: which kernel variant runs here, benchmarks, board builds."""

from __future__ import annotations

import json
import platform
from pathlib import Path

import click


@click.group("kernels")
def kernels() -> None:
    """The project's NEON kernels: which variant runs, benchmarks, board builds."""


@kernels.command("info")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def info(as_json: bool) -> None:
    """Print which variant (NEON or scalar reference) each kernel uses on this machine."""
    from sdk.kernels import cpu_isa, variants

    v = variants()
    if as_json:
        click.echo(json.dumps({"machine": platform.machine(), "isa": cpu_isa(), "kernels": v}, indent=2))
        return
    click.echo(f"machine: {platform.machine()}   isa: {cpu_isa()}")
    width = max(len(op) for op in v)
    for op, name in v.items():
        click.echo(f"  {op:<{width}}  {name}")


@kernels.command("bench")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option(
    "--rootfs",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="aarch64 rootfs with python3 for the OpenCV/ncnn baseline rows (default: the bench's "
    "own copy of the emulated board's Debian rootfs, extracted into the cache directory).",
)
@click.option("--cpu", default=None, help="QEMU CPU model [default: cortex-a72; armv7: cortex-a7].")
@click.option("--no-baselines", is_flag=True, help="Only this project's scalar and NEON kernels.")
@click.option("--arch", type=click.Choice(["aarch64", "armv7"]), default="aarch64", show_default=True,
              help="Target build: aarch64, or armv7 (armhf, NEON-VFPv4) under qemu-arm.")
def bench(as_json: bool, rootfs: Path | None, cpu: str | None, no_baselines: bool, arch: str) -> None:
    """Instructions per call under QEMU (TCG plugin): scalar reference vs NEON vs baselines
    pinned to one thread (checked: a baseline that spawns threads fails the bench, exit 1)."""
    from sdk.kernels.bench import format_table, run_benchmarks

    result = run_benchmarks(rootfs=rootfs, cpu=cpu, baselines=not no_baselines, arch=arch)
    click.echo(json.dumps(result.to_dict(), indent=2) if as_json else format_table(result))


@kernels.command("build")
@click.option("--arch", type=click.Choice(["aarch64", "armv7"]), required=True)
@click.option("--python", "python", default="3.11", show_default=True)
@click.option("--out", "out_dir", type=click.Path(path_type=Path, file_okay=False), default=Path("dist"))
def build(arch: str, python: str, out_dir: Path) -> None:
    """Cross-compile sdk._kernels for a board's CPython."""
    from sdk.kernels.build import build_for_board

    click.echo(str(build_for_board(arch, python=python, out_dir=out_dir)))
