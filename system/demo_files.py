"""The demo's run directory: claiming it (only an empty or an earlier demo's directory), clearing
an earlier run's data, the tokens (kept between runs) and each hall's configuration rewritten
to use the demo's broker, server, token files and outboxes. ``docs/demo.md`` has the story.
"""

from __future__ import annotations

import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from lobbywatch.config import load_site_config
from lobbywatch.services import free_port

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "deploy" / "examples"
SIM_HALLS = ROOT / "edge" / "simulate" / "halls"
#: The demo's halls: a telecom hall and a bank branch (the deployment examples, with staff at
#: their guide desks) and the simulator's hall whose two cameras share the counter queue.
DEMO_HALLS = (EXAMPLES / "telecom-hall.yaml", EXAMPLES / "bank-branch.yaml", SIM_HALLS / "two-views.yaml")
MARKER = ".lobbywatch-demo"
# State of a previous run that a new run starts without (tokens are kept, so bookmarked
# wall and staff URLs keep working).
STALE: tuple[str, ...] = (
    "server.sqlite3",
    "server.sqlite3-wal",
    "server.sqlite3-shm",
    "gateway",
    "influxdb",
    "mosquitto",
    "logs",
    "halls",
    "pids.json",
    "demo.json",
)


@dataclass
class DemoHall:
    """One hall of the demo: its site id, generated config files and tokens."""

    site: str
    config: Path  # for the gateway and the vision daemon
    sim_config: Path  # for the simulator (without the camera a video replaces)
    display_token: str
    guide_token: str
    gateway_token_file: Path
    video_camera: str | None = None


def write_yaml(path: Path, data: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def token(run_dir: Path, name: str) -> tuple[str, Path]:
    """The plain token ``name`` and its file, made once and kept in later runs."""
    path = run_dir / "tokens" / f"{name}.token"
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        plain = path.read_text(encoding="utf-8").strip()
    else:
        plain = "lw-demo-" + secrets.token_urlsafe(24)
        path.write_text(plain + "\n", encoding="utf-8")
        path.chmod(0o600)
    return plain, path


def write_hall(
    template: Path, run_dir: Path, broker_port: int, base_url: str, video: Path | None
) -> tuple[DemoHall, dict[str, Any]]:
    """A copy of a hall file wired to the demo's broker and server; its bootstrap tokens
    (gateway, wall display, guide)."""
    data: dict[str, Any] = yaml.safe_load(template.read_text(encoding="utf-8"))
    site = str(data["site"])
    hall_dir = run_dir / "halls"
    _gw_token, gw_token_file = token(run_dir, f"gateway-{site}")
    display_token, display_file = token(run_dir, f"display-{site}")
    guide_token, guide_file = token(run_dir, f"guide-{site}")
    data["broker"] = {"host": "127.0.0.1", "port": broker_port}
    gateway = dict(data.get("gateway") or {})
    gateway.update(
        {
            "server_url": base_url,
            "token_file": str(gw_token_file),
            "outbox": str(run_dir / "gateway" / f"{site}-outbox.sqlite3"),
            "health_port": free_port(),
            "max_disk_mb": 64,
        }
    )
    data["gateway"] = gateway
    # No network in a demo: alerts go to the hall displays (MQTT) and the web pages only.
    data["notifications"] = {
        "channels": [{"name": "hall-displays", "type": "mqtt"}],
        "routes": [{"channels": ["hall-displays"]}],
    }
    video_camera: str | None = None
    sim_data = data
    if video is not None:
        cameras = list(data["cameras"])
        video_camera = str(cameras[0]["id"])
        cameras[0] = {**cameras[0], "source": str(video.resolve()), "loop": True}
        data["cameras"] = cameras
        sim_data = {**data, "cameras": cameras[1:]}
    config = write_yaml(hall_dir / f"{site}.yaml", data)
    sim_config = write_yaml(hall_dir / f"{site}-sim.yaml", sim_data) if video else config
    load_site_config(config)  # fail here, with located errors, rather than in a child
    if sim_config != config:
        load_site_config(sim_config)
    hall = DemoHall(site, config, sim_config, display_token, guide_token, gw_token_file, video_camera)
    tokens = [
        {"name": f"gateway {site}", "role": "gateway", "token_file": str(gw_token_file), "sites": [site]},
        {"name": f"wall {site}", "role": "display", "token_file": str(display_file), "sites": [site]},
        {"name": f"guide {site}", "role": "guide", "token_file": str(guide_file), "sites": [site]},
    ]
    return hall, {"tokens": tokens}


def claim_run_dir(run_dir: Path) -> None:
    """Use ``run_dir`` only if it is empty or an earlier demo's (so nothing else is deleted)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    marker = run_dir / MARKER
    if not marker.exists():
        if any(run_dir.iterdir()):
            raise ValueError(
                f"--run-dir {run_dir} is not empty and is not a demo run directory; pick another "
                f"/ --run-dir {run_dir} 不是空目录，也不是演示目录；请换一个"
            )
        marker.write_text("lobbywatch demo run directory\n", encoding="utf-8")
    clear_previous_run(run_dir)


def clear_previous_run(run_dir: Path) -> None:
    """Remove the data of an earlier demo in ``run_dir``: each run replays the same morning."""
    for name in (*STALE, *(p.name for p in run_dir.glob("truth-*.json"))):
        path = run_dir / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()
