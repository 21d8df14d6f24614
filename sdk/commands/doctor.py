"""``sdk doctor``: host requirements, each with its fix; ``--fix`` applies what it can."""

from __future__ import annotations

import json

import click


@click.command("doctor")
@click.option("--fix", "do_fix", is_flag=True, help="Apply the fixes the SDK can apply itself.")
@click.option("--json", "as_json", is_flag=True, help="Print the checks as JSON.")
def doctor(do_fix: bool, as_json: bool) -> None:
    """Check QEMU, binfmt, debootstrap, cross compilers, pnnx, MNN, disk and the boards.

    --fix applies the fixes that stay in the SDK's own state: pnnx into the SDK cache and the
    binfmt registration of QEMU (root). It never runs apt-get or pip on your environment,
    never builds a rootfs (the first emulated board does) and never touches a board: those
    fixes are printed for you to run."""
    from sdk.doctor import apply_fix, apt_line, run_checks
    from sdk.errors import SdkError

    checks = run_checks()
    if do_fix:
        for c in checks:
            if c.ok:
                continue
            if c.call is None:
                click.echo(f"not fixing {c.name}: run {c.fix!r} yourself (sdk doctor --help: why)", err=True)
                continue
            click.echo(f"fixing {c.name}: {c.fix}", err=True)
            why = apply_fix(c)
            if why:
                click.echo(f"    failed: {why}", err=True)
        checks = run_checks()
    if as_json:
        click.echo(json.dumps([c.to_dict() for c in checks], indent=2))
    else:
        width = max(len(c.name) for c in checks)
        for c in checks:
            mark = "ok  " if c.ok else "FAIL"
            line = f"{mark} {c.name:<{width}}  {c.found}"
            if not c.ok:
                line += f"\n     {'':<{width}}  fix: {c.fix}"
            click.echo(line)
    bad = [c.name for c in checks if not c.ok]
    if (apt := apt_line(checks)) is not None and not as_json:
        click.echo(f"system packages missing; as root: {apt}")
    if bad:
        fixable = [c.name for c in checks if not c.ok and c.call is not None]
        raise SdkError(f"{len(bad)} host requirement(s) missing: {', '.join(bad)}",
                       fix="run the fixes shown above" + (f"; 'sdk doctor --fix' applies those of "
                                                          f"{', '.join(fixable)}" if fixable else ""))
