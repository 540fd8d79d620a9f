"""Commands of the vision component: ``edge vision``, ``edge export-model``, ``edge calibrate``,
``eval counts``.

Heavy libraries (torch, ultralytics, OpenCV) are imported inside the commands, so
``lobbywatch --help`` stays fast.
"""

from __future__ import annotations

import logging
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from edge.vision.export import EXPORT_FORMATS
from lobbywatch.cli_options import (
    BrokerOpt,
    HallConfigOpt,
    LogFormatOpt,
    PasswordFileOpt,
    checked_log_format,
    fail,
    load_site_or_exit,
)
from lobbywatch.logs import setup_logging

if TYPE_CHECKING:
    from edge.vision.calibrate import Calibration
    from lobbywatch.cli import Groups

ROI_HELP = 'roi.json: {"roi_polygon": [[x, y], ...]}; count only anchors inside.'


def register(groups: Groups) -> None:
    """Add this component's commands to the command groups."""

    @groups.edge.command("vision")
    def vision(
        config: HallConfigOpt,
        camera: Annotated[str, typer.Option("--camera", help="Camera id from the configuration.")],
        broker: BrokerOpt = None,
        debug_view: Annotated[
            int | None,
            typer.Option("--debug-view", help="Serve an annotated MJPEG view on 127.0.0.1:PORT (opt-in)."),
        ] = None,
        password_file: PasswordFileOpt = None,
        log_level: Annotated[str, typer.Option("--log-level", help="Logging level.")] = "INFO",
        log_format: LogFormatOpt = "text",
        metrics_port: Annotated[
            int | None,
            typer.Option("--metrics-port", min=1, max=65535, help="Serve /metrics on 127.0.0.1:PORT."),
        ] = None,
    ) -> None:
        """Count people per zone, measure waits and publish them over MQTT for one camera."""
        from edge.vision.backends import BackendMissingError, UnsupportedModelError
        from edge.vision.daemon import VisionDaemon
        from edge.vision.detector import ModelMissingError
        from lobbywatch.clock import default_clock
        from lobbywatch.mqtt import broker_from_url

        setup_logging("vision", checked_log_format(log_format), log_level)
        site = load_site_or_exit(config)
        ids = [c.id for c in site.cameras]
        if camera not in ids:
            raise fail(
                f"{config}: no camera {camera!r}; cameras are: {', '.join(ids) or '(none)'}",
                f"{config}：没有摄像头 {camera!r}；已配置的摄像头：{', '.join(ids) or '（无）'}",
            )
        try:
            broker_cfg = broker_from_url(broker) if broker else None
        except ValueError as exc:
            raise fail(str(exc), f"代理地址无效：{broker}") from None
        if password_file is not None:
            broker_cfg = (broker_cfg or site.broker).model_copy(update={"password_file": password_file})
        try:
            daemon = VisionDaemon(
                site, camera, broker=broker_cfg, clock=default_clock(), debug_port=debug_view
            )
        except ModelMissingError as exc:
            raise fail(str(exc), f"找不到检测模型（请运行 scripts/setup.sh）：{exc}") from None
        except BackendMissingError as exc:
            raise fail(str(exc), f"本机未安装该模型格式所需的运行库：{exc}") from None
        except UnsupportedModelError as exc:
            raise fail(str(exc), f"该模型类型不能用于人员检测：{exc}") from None

        def _stop(signum: int, _frame: object) -> None:
            logging.getLogger(__name__).info("signal %d: stopping", signum)
            daemon.stop()

        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
        if metrics_port is not None:
            from prometheus_client import start_http_server

            from edge.vision.metrics import registry_for

            start_http_server(metrics_port, addr="127.0.0.1", registry=registry_for(daemon))
        try:
            daemon.run()
        except ConnectionError as exc:
            raise fail(str(exc), f"无法连接 MQTT 代理：{exc}", 1) from None
        except FileNotFoundError as exc:
            raise fail(str(exc), f"找不到视频文件：{exc}") from None

    @groups.edge.command("export-model")
    def export_model(
        format: Annotated[str, typer.Option("--format", help="onnx, openvino, ncnn or engine (TensorRT).")],
        imgsz: Annotated[int, typer.Option("--imgsz", min=160, max=4096, help="Input size, pixels.")] = 960,
        model: Annotated[
            Path | None, typer.Option("--model", help="Weights (.pt); default: the bundled detector.")
        ] = None,
        int8: Annotated[
            Path | None,
            typer.Option(
                "--int8",
                exists=True,
                file_okay=False,
                help="ONNX only: also write an INT8 copy, calibrated on the .jpg/.png frames in DIR.",
            ),
        ] = None,
    ) -> None:
        """Export the detector for edge hardware; writes it next to the original.

        ONNX is exported with dynamic axes (any input size, tiles in one batch) and runs
        without torch on the ONNX Runtime backend (docs/vision.md, Backends).
        """
        if format not in EXPORT_FORMATS:
            raise fail(
                f"--format must be one of {', '.join(EXPORT_FORMATS)}, got {format!r}",
                f"--format 只能是 {', '.join(EXPORT_FORMATS)}，收到 {format!r}",
            )
        frames = sorted(p for p in int8.iterdir() if p.suffix.lower() in (".jpg", ".png")) if int8 else []
        if int8 is not None and (format != "onnx" or not frames):
            raise fail(
                "--int8 needs --format onnx and a folder of .jpg/.png frames",
                "--int8 需要 --format onnx 以及一个包含 .jpg/.png 画面的文件夹",
            )
        from edge.vision import export
        from edge.vision.detector import ModelMissingError, resolve_model_path

        try:
            path = resolve_model_path(model)
        except ModelMissingError as exc:
            raise fail(str(exc), f"找不到模型：{exc}") from None
        try:
            out = export.export_model(path, format, imgsz)
            if frames:
                out = export.quantize_onnx(out, frames, imgsz)
        except Exception as exc:  # ultralytics and onnxruntime raise many kinds; say what failed
            raise fail(f"export to {format} failed: {exc}", f"导出为 {format} 失败：{exc}", 1) from None
        typer.echo(str(out))
        typer.echo(
            f"Use it: set `model: {out}` and `counting: {{imgsz: {imgsz}}}` for the camera in hall.yaml.\n"
            f"用法：在厅配置的摄像头中设置 `model: {out}` 与 `counting: {{imgsz: {imgsz}}}`。"
        )

    @groups.edge.command("calibrate")
    def calibrate(
        config: HallConfigOpt,
        camera: Annotated[str, typer.Option("--camera", help="Camera id from the configuration.")],
        images: Annotated[Path, typer.Option("--images", help="Folder of the camera's snapshots.")],
        truth: Annotated[
            Path, typer.Option("--truth", help="counts.csv with header image,persons: counted by hand.")
        ],
        write: Annotated[
            bool, typer.Option("--write", help="Write the chosen settings into the camera's block.")
        ] = False,
        max_passes: Annotated[
            int | None,
            typer.Option(
                "--max-passes", min=1, help="Detector passes the search may run (default 30 a snapshot)."
            ),
        ] = None,
    ) -> None:
        """Fit the camera's counting settings to 10-30 snapshots counted by hand (docs/vision.md).

        Reports the error on a held-out part of the snapshots before and after; with --write,
        sets the chosen values in the hall file, keeping its comments.
        """
        from edge.vision.backends import BackendMissingError, UnsupportedModelError, load_backend
        from edge.vision.calibrate import PassBudgetSpent, read_snapshots
        from edge.vision.calibrate import calibrate as run_calibration
        from edge.vision.detector import ModelMissingError, resolve_model_path
        from edge.vision.evaluate import EvalInputError
        from edge.vision.hall_file_edit import HallFileEditError, write_counting
        from edge.vision.near_model import load_near_model

        site = load_site_or_exit(config)
        try:
            cam = site.camera(camera)
        except KeyError:
            ids = ", ".join(c.id for c in site.cameras) or "(none)"
            raise fail(
                f"{config}: no camera {camera!r}; cameras are: {ids}",
                f"{config}：没有摄像头 {camera!r}；已配置的摄像头：{ids}",
            ) from None
        if not images.is_dir():
            raise fail(f"--images {images}: not a folder", f"--images {images}：不是文件夹")
        try:
            rows = read_snapshots(images, truth)
            path = resolve_model_path(cam.model)
            near = load_near_model(cam.counting.near_model, path)
            result = run_calibration(
                images,
                rows,
                cam.counting,
                load_backend(path),
                roi=cam.roi,
                max_passes=max_passes,
                near_backend=None if near is None else near[1],
            )
        except (EvalInputError, ModelMissingError) as exc:
            raise fail(str(exc), f"输入有误：{exc}") from None
        except BackendMissingError as exc:
            raise fail(str(exc), f"本机未安装该模型格式所需的运行库：{exc}") from None
        except UnsupportedModelError as exc:
            raise fail(str(exc), f"该模型类型不能用于人员检测：{exc}") from None
        except PassBudgetSpent:
            raise fail(
                f"--max-passes {max_passes} does not cover even the camera's current settings",
                f"--max-passes {max_passes} 不足以评估该摄像头的现有设置",
            ) from None
        for line in calibration_report(result):
            typer.echo(line)
        if write and result.improved:
            try:
                write_counting(config, camera, result.chosen.as_block())
            except HallFileEditError as exc:
                raise fail(str(exc), f"无法写入厅配置：{exc}") from None
            load_site_or_exit(config)
            typer.echo(f"written to {config} (camera {camera})\n已写入 {config}（摄像头 {camera}）")
        elif write:
            typer.echo(f"{config} left unchanged\n{config} 未修改")
        elif result.improved:
            typer.echo("run again with --write to write them\n加 --write 重新运行即写入配置文件")

    @groups.eval.command("counts")
    def eval_counts(
        images: Annotated[
            Path,
            typer.Option("--images", help="Folder of images, or (with --sequence) a video file."),
        ],
        truth: Annotated[
            Path,
            typer.Option(
                "--truth", help="counts.csv with header image,persons (a video: frame,persons, 0 = first)."
            ),
        ],
        config: Annotated[
            Path | None,
            typer.Option("--config", help="Hall file: evaluate what --camera runs (default: the defaults)."),
        ] = None,
        camera: Annotated[
            str | None, typer.Option("--camera", help="Camera id in --config whose counting settings to use.")
        ] = None,
        roi: Annotated[
            Path | None, typer.Option("--roi", help=ROI_HELP + " Replaces the camera's ROI.")
        ] = None,
        model: Annotated[
            Path | None, typer.Option("--model", help="Detector weights; replaces the camera's model.")
        ] = None,
        out: Annotated[Path | None, typer.Option("--out", help="Write per-image results (CSV).")] = None,
        sequence: Annotated[
            bool,
            typer.Option(
                "--sequence",
                help="The rows of --truth are consecutive frames, in order: also report the error "
                "of the published (smoothed) occupancy.",
            ),
        ] = False,
        anchor: Annotated[
            str,
            typer.Option(
                "--anchor",
                help="The point of a person the truth counted inside the ROI: feet (as the daemon "
                "and an installer count) or head (head-annotated data such as Mall).",
            ),
        ] = "feet",
    ) -> None:
        """Count people in still images with a camera's own detector and compare with true counts.

        Prints MAE, RMSE, bias, relative error and the cost (detector passes and ms per frame)
        as JSON. The images are read once first to learn the person scale (docs/vision.md).
        With --sequence it adds published_mae and published_bias: the occupancy the daemon
        would publish (its smoothing) against the true counts; --images may then be a video.
        """
        from edge.vision.backends import BackendMissingError, UnsupportedModelError
        from edge.vision.detector import ModelMissingError, PersonDetector
        from edge.vision.evaluate import Anchor, EvalInputError, evaluate_counts, read_roi, read_truth
        from lobbywatch.config.counting import CountingConfig

        if anchor not in set(Anchor):
            raise fail(
                f"--anchor must be feet or head, got {anchor!r}", f"--anchor 只能是 feet 或 head：{anchor!r}"
            )
        if (config is None) != (camera is None):
            raise fail("--config and --camera go together", "--config 与 --camera 需同时给出")
        settings, cam_model, polygon = CountingConfig(), None, None
        if config is not None and camera is not None:
            site = load_site_or_exit(config)
            try:
                cam = site.camera(camera)
            except KeyError:
                ids = ", ".join(c.id for c in site.cameras) or "(none)"
                raise fail(
                    f"{config}: no camera {camera!r}; cameras are: {ids}",
                    f"{config}：没有摄像头 {camera!r}；已配置的摄像头：{ids}",
                ) from None
            settings, cam_model, polygon = cam.counting, cam.model, cam.roi
        if not (images.is_dir() or (sequence and images.is_file())):
            raise fail(
                f"--images {images}: not a folder (nor, with --sequence, a video file)",
                f"--images {images}：不是文件夹（加 --sequence 时也可以是视频文件）",
            )
        try:
            rows_truth = read_truth(truth)
            if roi is not None:
                polygon = read_roi(roi)
            detector = PersonDetector(model or cam_model, settings, roi=polygon)
            summary = evaluate_counts(
                images,
                rows_truth,
                detector,
                roi=polygon,
                out=out,
                progress=sys.stderr,
                sequence=sequence,
                anchor=Anchor(anchor),
            )
        except (EvalInputError, ModelMissingError) as exc:
            raise fail(str(exc), f"输入有误：{exc}") from None
        except BackendMissingError as exc:
            raise fail(str(exc), f"本机未安装该模型格式所需的运行库：{exc}") from None
        except UnsupportedModelError as exc:
            raise fail(str(exc), f"该模型类型不能用于人员检测：{exc}") from None
        n = summary.scale_learned_from
        typer.echo(
            f"the person scale was learned first from {n} of the images (full frame only), "
            "as the daemon learns it in its first minutes\n"
            f"已先用其中 {n} 张图像（仅整帧）学习人体尺度，与守护进程启动后最初几分钟的学习相同",
            err=True,
        )
        near = "none (the camera's model everywhere)" if detector.near_model is None else detector.near_model
        near_zh = "无（全部由摄像头模型计数）" if detector.near_model is None else detector.near_model
        typer.echo(f"near model: {near}\n近景模型：{near_zh}", err=True)
        typer.echo(summary.as_json())


def calibration_report(result: Calibration) -> list[str]:
    """What ``edge calibrate`` tells the installer, in English then Chinese."""
    b, a, k = result.before, result.after, result.chosen
    lines = [
        f"snapshots: {result.search_rows} searched, {result.held_rows} held out; "
        f"{result.settings_tried} settings tried ({result.settings_skipped} over the pass budget), "
        f"{result.passes} detector passes",
        f"快照：{result.search_rows} 张用于搜索，{result.held_rows} 张留作检验；"
        f"尝试 {result.settings_tried} 组设置（{result.settings_skipped} 组超出推理预算未评估），"
        f"检测器运行 {result.passes} 次",
        f"held-out error before: MAE {b.mae:.2f}, bias {b.bias:+.2f}",
        f"留出集误差（调整前）：平均绝对误差 {b.mae:.2f}，偏差 {b.bias:+.2f}",
    ]
    if not result.improved:
        if result.from_defaults:
            return [*lines, "the defaults are already best", "默认设置已是最佳"]
        return [*lines, "the camera's current settings are already best", "该摄像头的现有设置已是最佳"]
    if k.slicing.value == "off":
        slicing_en, slicing_zh = "off", "关闭"
    else:
        slicing_en = f"{k.slicing.value} (below {k.min_person_px:g} px), threshold {k.slice_confidence:g}"
        slicing_zh = f"{k.slicing.value}（人高低于 {k.min_person_px:g} 像素处），阈值 {k.slice_confidence:g}"
    near_en = near_zh = ""  # only where the camera runs a near model
    if (near := k.near_confidence) is not None:
        near_en, near_zh = f"; near-model threshold {near:g}", f"；近景模型阈值 {near:g}"
    return [
        *lines,
        f"held-out error after: MAE {a.mae:.2f}, bias {a.bias:+.2f}",
        f"留出集误差（调整后）：平均绝对误差 {a.mae:.2f}，偏差 {a.bias:+.2f}",
        f"chosen: full-frame threshold {k.confidence:g}; slicing {slicing_en}; "
        f"merge containment {k.containment:g}{near_en}",
        f"选定：整帧阈值 {k.confidence:g}；切片 {slicing_zh}；合并包含度 {k.containment:g}{near_zh}",
    ]
