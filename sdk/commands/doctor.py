"""``sdk doctor``: host requirements, each with its fix; ``--fix`` applies what it can."""

from __future__ import annotations

import json

import click


@click.command("doctor")
@click.option("--fix", "do_fix", is_flag=True, help="Apply the fixes the SDK can apply itself.")
@click.option("--json", "as_json", is_flag=True, help="Print the checks as JSON.")
def doctor(do_fix: bool, as_json: bool) -> None:
    """Check QEMU, binfmt, debootstrap, cross compilers, pnnx, MNN, disk and the boards."""
    from sdk.doctor import apply_fix, run_checks
    from sdk.errors import SdkError

    checks = run_checks()
    if do_fix:
        failed = {c.name for c in checks if not c.ok and (c.auto or c.call)}
        for c in checks:
            if c.name in failed:
                click.echo(f"fixing {c.name}: {c.fix}", err=True)
                why = apply_fix(c, lambda m: click.echo(f"    {m}", err=True))
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
    if bad:
        raise SdkError(f"{len(bad)} host requirement(s) missing: {', '.join(bad)}",
                       fix="run the fixes shown above, or 'sdk doctor --fix'")
