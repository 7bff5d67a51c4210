"""`phonenas devices`: attached Android phones (adb) with SoC, cores and temperatures, and iPhones.

One block per device (field, value), so the listing stays readable in an 80-column terminal.
"""

from __future__ import annotations

import json

import typer
from rich.console import Console
from rich.table import Table

from phonenas.cli.options import AdbHostOption, AdbPortOption


def _freq_summary(freqs: tuple[int | None, ...]) -> str:
    """'4x1.80 2x2.35 2x2.85 GHz' (clusters in core order); '?' for unknown frequencies."""
    if not freqs:
        return "?"
    groups: list[list[object]] = []
    for f in freqs:
        if groups and groups[-1][1] == f:
            groups[-1][0] = int(groups[-1][0]) + 1  # type: ignore[call-overload]
        else:
            groups.append([1, f])
    parts = [f"{n}x{(f / 1e6):.2f}" if f else f"{n}x?" for n, f in groups]  # type: ignore[operator]
    return " ".join(parts) + " GHz"


def _temp(value: float | None) -> str:
    return f"{value:.1f}" if value is not None else "-"


def devices(
    json_out: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    adb_host: AdbHostOption = None,
    adb_port: AdbPortOption = None,
    ios: bool = typer.Option(
        True, "--ios/--no-ios", help="Also list iPhones (devicectl on macOS, usbmuxd elsewhere)."
    ),
) -> None:
    """List attached phones: model, SoC, ABI, OS, per-core max frequency (big cores), governor, temps.

    Examples:

      phonenas devices

      phonenas devices --json > devices.json

      phonenas devices --adb-port 5038 --no-ios
    """
    from android_bench.adb import adb_server_address
    from android_bench.discovery import list_devices

    adb_host, adb_port = adb_server_address(adb_host, adb_port)
    listing = list_devices(adb_host, adb_port, include_ios=ios)
    if json_out:
        payload = {
            "android": [
                {
                    "serial": a.serial,
                    "state": a.state,
                    "error": a.error,
                    "info": a.info.to_dict() if a.info else None,
                }
                for a in listing.android
            ],
            "adb_note": listing.adb_note,
            "ios": {
                "available": listing.ios.available,
                "source": listing.ios.source,
                "note": listing.ios.note,
                "devices": [vars(d) for d in listing.ios.devices],
            },
        }
        typer.echo(json.dumps(payload, indent=2))
        return

    console = Console()
    if listing.android:
        console.print(f"[bold]Android devices[/bold] (adb server {adb_host}:{adb_port})", highlight=False)
    for a in listing.android:
        console.print(_block(f"{a.serial} ({a.state})", _android_rows(a)))
    if not listing.android:
        console.print(
            listing.adb_note or "No Android device attached (check `adb devices`; enable USB debugging)."
        )
    if not ios:
        return
    for d in listing.ios.devices:
        rows = [
            ("connection", d.connection),
            ("model", d.model or "?"),
            ("name", d.name or "?"),
            ("iOS", d.ios_version or "?"),
            ("note", d.note or "-"),
        ]
        console.print(_block(f"{d.udid} (iOS, {listing.ios.source})", rows))
    if listing.ios.note:
        console.print(f"iOS: {listing.ios.note}")
    elif listing.ios.available and not listing.ios.devices:
        where = "usbmuxd is running" if listing.ios.source == "usbmuxd" else "devicectl is available"
        console.print(f"iOS: {where}, no iPhone attached.")


def _android_rows(a) -> list[tuple[str, str]]:
    i = a.info
    if i is None:
        return [("error", a.error or "-")]
    mask = f"0x{i.big_core_mask:x} ({','.join(map(str, i.big_cores))})" if i.big_core_mask else "?"
    return [
        ("model", i.model or "?"),
        ("SoC", i.soc or i.hardware or "?"),
        ("ABI", i.abi or "?"),
        ("Android", i.os_version or "?"),
        ("cores", f"{i.num_cores}: {_freq_summary(i.max_freq_khz)}"),
        ("big mask", mask),
        ("governor", i.governor or "?"),
        ("CPU °C", _temp(i.cpu_temp_c)),
        ("batt °C", _temp(i.battery_temp_c)),
    ]


def _block(title: str, rows: list[tuple[str, str]]) -> Table:
    """One device as a two-column block: readable at any terminal width (80 columns included)."""
    t = Table(
        title=title, title_justify="left", title_style="bold", show_header=False, box=None, padding=(0, 2)
    )
    t.add_column("field", style="dim", no_wrap=True)
    t.add_column("value", overflow="fold")
    for field, value in rows:
        t.add_row(field, value)
    return t
