"""`phonenas devices`: attached Android phones (adb) with SoC, cores and temperatures, and iPhones."""

from __future__ import annotations

import json

import typer
from rich.console import Console
from rich.table import Table


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
    adb_host: str | None = typer.Option(
        None, "--adb-host", help="adb server host [default: $ANDROID_ADB_SERVER_HOST or 127.0.0.1]."
    ),
    adb_port: int | None = typer.Option(
        None, "--adb-port", help="adb server port [default: $ANDROID_ADB_SERVER_PORT or 5037]."
    ),
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
    table = Table(title=f"Android devices (adb server {adb_host}:{adb_port})")
    for col in (
        "serial",
        "state",
        "model",
        "SoC",
        "ABI",
        "Android",
        "cores",
        "big mask",
        "governor",
        "CPU °C",
        "batt °C",
    ):
        table.add_column(col, no_wrap=col in ("serial", "big mask"))
    for a in listing.android:
        i = a.info
        if i is None:
            table.add_row(a.serial, a.state, a.error or "-", *["-"] * 8)
            continue
        mask = f"0x{i.big_core_mask:x} ({','.join(map(str, i.big_cores))})" if i.big_core_mask else "?"
        table.add_row(
            a.serial,
            a.state,
            i.model or "?",
            i.soc or i.hardware or "?",
            i.abi or "?",
            i.os_version or "?",
            f"{i.num_cores}: {_freq_summary(i.max_freq_khz)}",
            mask,
            i.governor or "?",
            _temp(i.cpu_temp_c),
            _temp(i.battery_temp_c),
        )
    if listing.android:
        console.print(table)
    else:
        console.print(
            listing.adb_note or "No Android device attached (check `adb devices`; enable USB debugging)."
        )
    if not ios:
        return
    if listing.ios.devices:
        t = Table(title=f"iOS devices ({listing.ios.source})")
        for col in ("UDID", "connection", "model", "name", "iOS", "note"):
            t.add_column(col)
        for d in listing.ios.devices:
            t.add_row(d.udid, d.connection, d.model or "?", d.name or "?", d.ios_version or "?", d.note)
        console.print(t)
    if listing.ios.note:
        console.print(f"iOS: {listing.ios.note}")
    elif listing.ios.available and not listing.ios.devices:
        where = "usbmuxd is running" if listing.ios.source == "usbmuxd" else "devicectl is available"
        console.print(f"iOS: {where}, no iPhone attached.")
