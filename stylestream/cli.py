"""`stylestream` command line: parses options, calls stylestream.api (which checks them and
runs the job), prints the summary.

Every failure a user can cause ends as one line on stderr and exit status 2; an
interrupted job exits with 130 after saving what it had. Set STYLESTREAM_DEBUG=1 for
tracebacks.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import warnings

from stylestream import __version__
from stylestream.api import (DREAM_RECORD_SECONDS, MAX_SIZE_CPU, MAX_SIZE_GPU, MAX_SIZE_IMAGE, MAX_SIZE_OPTIMIZE,
                             NOISE_MODES, OPTIMIZERS)
from stylestream.backends.base import DEVICES
from stylestream.backends.select import BACKENDS, PRECISIONS
from stylenets.gatys_defaults import DEFAULT_BALANCE, DEFAULT_SCALES, DEFAULT_STEPS
from stylestream.errors import SlowWarning, UserError
from stylestream.regions import DEFAULT_FEATHER, REGIONS
from stylestream.sinks import DEFAULT_PRESET, X264_PRESETS
from stylestream.temporal.params import DEFAULT_STRENGTH
from stylestream.zoo import ARCH_CHOICES, DEFAULT_GENERATOR, DEFAULT_STYLE, zoo_generators

EXIT_USAGE, EXIT_INTERRUPTED = 2, 130
# Modules of the optional extras (pyproject.toml), and how to get them.
OPTIONAL_MODULES = {
    "torch": "pip install 'stylestream[train]' (or 'stylestream[gpu]' for an NVIDIA GPU)",
    "torchvision": "pip install 'stylestream[train]'",
    "tensorboard": "pip install 'stylestream[train]'",
}


CAMERA_AND_VIDEO_SIZE = f"{MAX_SIZE_CPU} on CPU, {MAX_SIZE_GPU} on CUDA"
GENERATOR_HELP = (f"a zoo generator ({', '.join(zoo_generators()) or 'none installed'}) or a generator .onnx/.pt "
                  f"from train-gan (default {DEFAULT_GENERATOR})")


class _DefaultsFormatter(argparse.HelpFormatter):
    """Each option's help ends with its default, unless the help already says it (or the
    option has none: a flag that is off, a file that is not given)."""

    def _get_help_string(self, action):
        text = action.help or ""
        if "default" in text or action.default in (None, False, argparse.SUPPRESS) or not action.option_strings:
            return text
        return f"{text} (default: %(default)s)"


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", _DefaultsFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message):  # argparse prints usage + message; keep it to one line
        raise UserError(message)


def _style_help(more: str = "") -> str:
    from stylestream.zoo import zoo_models

    return f"a zoo style ({', '.join(zoo_models())}) or a .onnx/.pt model file{more} (default: {DEFAULT_STYLE})"


def _temporal(p: argparse.ArgumentParser) -> None:
    p.add_argument("--temporal-strength", type=float, default=DEFAULT_STRENGTH, metavar="A",
                   help="0..1: weight of the flow-warped previous output where flow is reliable "
                        f"(default {DEFAULT_STRENGTH})")
    p.add_argument("--no-temporal", action="store_true", help="stylize each frame independently")


def _common(p: argparse.ArgumentParser, max_size_default: str) -> None:
    p.add_argument("--device", choices=DEVICES, default="auto",
                   help="where the net runs; auto: an NVIDIA GPU where an installed engine can use it, else the CPU")
    p.add_argument("--backend", choices=BACKENDS, default="auto",
                   help="auto: onnxruntime on a GPU (TensorRT/CUDA), OpenVINO on the CPU where installed "
                        "(onnxruntime otherwise), or PyTorch CUDA on a GPU without onnxruntime-gpu")
    p.add_argument("--precision", choices=PRECISIONS, default="auto",
                   help="the net's arithmetic; auto: bf16 with OpenVINO where the CPU has it natively (AMX, "
                        "AVX-512 BF16), fp16 on a GPU, fp32 elsewhere; bf16 needs OpenVINO")
    p.add_argument("--arch", choices=ARCH_CHOICES, default="auto",
                   help="size of a zoo style: johnson (full net) or compact; auto: compact unless on a GPU")
    p.add_argument("--max-size", type=int, default=None, metavar="N",
                   help=f"stylize at most N px on the longer side, output at source size (default: {max_size_default})")
    p.add_argument("--strength", type=float, default=1.0,
                   help="0..1: blend the stylized frame with the source; with --style-image, move the style code "
                        "from the frame's own statistics (0) to the picture's (1) (default 1)")
    p.add_argument("--preserve-color", action="store_true", help="keep the source's colours, stylized luminance")
    p.add_argument("--style-image", action="append", metavar="PICTURE",
                   help="take the style from any picture (painting, drawing, texture) through the arbitrary-style "
                        "model (--style may name its .frame.onnx; default: the installed one); repeat, or give a "
                        "folder, to mix them with --mix (webcam: to switch with n/p); with image --optimize: the "
                        "painting to match (default: none)")
    p.add_argument("--mix", type=float, nargs="+", metavar="W",
                   help="weights of the --style-image pictures' style codes, one each, or with two pictures the "
                        "second one's (default: equal weights; webcam without --mix switches between them)")
    p.add_argument("--json", action="store_true", help="print a machine-readable summary on stdout")


def _regions(p: argparse.ArgumentParser, mask: bool = False) -> None:
    p.add_argument("--region", choices=REGIONS,
                   help="stylize only the person or only the background, the rest stays as it is "
                        "(default: the whole frame)")
    p.add_argument("--background-style", metavar="STYLE",
                   help="a second style (zoo name or model path) for the background; --style paints the person "
                        "(default: none)")
    p.add_argument("--feather", type=float, default=DEFAULT_FEATHER, metavar="PX",
                   help=f"soften the seam between the regions over about PX output pixels (default {DEFAULT_FEATHER:g})")
    if mask:
        p.add_argument("--mask", metavar="MASK.png",
                       help="a picture saying where to stylize: white takes --style, black stays as it is (or takes "
                            "--background-style); resized to each input (default: none)")


def _region_options(args) -> dict:
    options = {"region": args.region, "background_style": args.background_style, "feather": args.feather}
    return {**options, "mask": args.mask} if hasattr(args, "mask") else options


def installed_commands() -> dict:
    """Subcommands that installed packages add through the `stylestream.commands` entry
    points (the trainers' `train` and `train-gan`): objects with `name`, `help`,
    `add_arguments(parser)`, `run(args) -> exit status` and `user_errors`, the exception
    types that mean bad input rather than a bug."""
    from importlib.metadata import entry_points

    commands = [ep.load() for ep in entry_points(group="stylestream.commands")]
    return {c.name: c for c in sorted(commands, key=lambda c: c.name)}


def run_installed(args) -> int:
    command = installed_commands()[args.command]
    try:
        return command.run(args)
    except command.user_errors as exc:
        raise UserError(str(exc)) from None


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="stylestream", description="Neural style transfer for video files, cameras and images.")
    p.add_argument("--version", action="version", version=f"stylestream {__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    v = sub.add_parser("video", help="stylize video files (audio copied)")
    v.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="a video file; or several, folders or quoted glob patterns ('clips/*.mp4') for a batch")
    v.add_argument("output", metavar="OUTPUT",
                   help="the output file (.mp4, .mkv or .mov), or a folder (created for a batch), where each "
                        "input is written as INPUT.STYLE.mp4")
    v.add_argument("--style", help=_style_help())
    v.add_argument("--style-schedule", metavar="T:STYLE,…",
                   help="change the style at set times instead of --style, e.g. \"0:starry,10s:candy,250f:mosaic\" "
                        "(seconds, or frame numbers with f; from 0, increasing) (default: none)")
    v.add_argument("--crossfade", metavar="D",
                   help="with --style-schedule: blend each style into the next over D from its time, "
                        "e.g. 1s or 25f (default: a hard switch)")
    _encoder_options(v)
    v.add_argument("--no-progress", action="store_true",
                   help="no progress bar on stderr (also: STYLESTREAM_NO_PROGRESS=1)")
    _temporal(v)
    _regions(v)
    _common(v, CAMERA_AND_VIDEO_SIZE)

    w = sub.add_parser("webcam", help="stylize a live camera in a window")
    w.add_argument("--style", action="append", help=_style_help("; repeat to switch between them with n/p"))
    w.add_argument("--camera", default="0", help="camera index, /dev/videoN, stream URL or video file (default 0)")
    w.add_argument("--loop", action="store_true", help="play a video file --camera again from the start at its end")
    w.add_argument("--serve", metavar="HOST:PORT",
                   help="serve a page with the live stream and its controls, e.g. 127.0.0.1:8080 (default: none)")
    w.add_argument("--serve-public", action="store_true",
                   help="allow --serve on an address other than this computer's loopback (default: refused)")
    w.add_argument("--size", type=int, default=640, help="capture width asked of the camera")
    w.add_argument("--record", metavar="OUT.mp4|URL",
                   help="also write the stylized stream to a file, or stream it to an rtmp://, srt:// or udp:// "
                        "URL (H.264, AAC when a video file --camera has sound; reconnects on its own) "
                        "(default: none)")
    w.add_argument("--virtual-camera", action="store_true",
                   help="also send the stylized stream to a virtual camera for video calls and OBS "
                        "(needs the vcam extra and v4l2loopback or OBS; default: off)")
    w.add_argument("--no-window", action="store_true",
                   help="show no window (needs --record, --serve, --virtual-camera or --seconds)")
    w.add_argument("--seconds", type=float, help="stop after this long")
    _encoder_options(w)
    _temporal(w)
    _regions(w)
    _common(w, CAMERA_AND_VIDEO_SIZE)

    i = sub.add_parser("image", help="stylize images")
    i.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="an image file; or several, folders or quoted glob patterns ('photos/*.jpg') for a batch")
    i.add_argument("-o", "--output",
                   help="the output file for one image (its suffix says the type), or a folder (created for a "
                        "batch; end a new one with /) for INPUT.STYLE.ext files (default: beside each input)")
    i.add_argument("--no-progress", action="store_true",
                   help="no progress bar on stderr (also: STYLESTREAM_NO_PROGRESS=1)")
    i.add_argument("--style", help=_style_help())
    i.add_argument("--optimize", action="store_true",
                   help="Gatys et al. optimization against --style-image instead of a trained model (slow)")
    i.add_argument("--balance", type=float, default=DEFAULT_BALANCE, metavar="B",
                   help="--optimize: how much of the painting against how much of the photo, from 0 (the photo "
                        "unchanged) to 1 (the painting's brush strokes and colours all over, the photo's shapes "
                        f"lost); lower keeps faces and edges, higher paints more (default {DEFAULT_BALANCE:g})")
    i.add_argument("--steps", type=int, nargs="+", metavar="N",
                   help="--optimize: iterations at each scale, or one number for every scale (default "
                        f"{' '.join(map(str, DEFAULT_STEPS))}; {DEFAULT_STEPS[-1]} at each of other --scales)")
    i.add_argument("--optimizer", choices=OPTIMIZERS, default="lbfgs",
                   help="--optimize: L-BFGS (paints in a few dozen steps) or Adam (default lbfgs)")
    i.add_argument("--scales", type=float, nargs="+", default=list(DEFAULT_SCALES),
                   help="--optimize: coarse-to-fine sizes, as fractions of the output's; the coarse ones paint "
                        f"large strokes (default {' '.join(f'{s:g}' for s in DEFAULT_SCALES)})")
    i.add_argument("--max-minutes", type=float, metavar="M",
                   help="--optimize: stop each picture after this long, with the best image so far "
                        "(default: all the steps)")
    i.add_argument("--vgg-weights", help="--optimize: local VGG16 weights")
    _regions(i, mask=True)
    _common(i, f"{MAX_SIZE_IMAGE}; {MAX_SIZE_OPTIMIZE} with --optimize")

    n = sub.add_parser("info", help="versions, devices, zoo models; or what a model file is and where it would run")
    n.add_argument("model", nargs="?", metavar="MODEL",
                   help="a .onnx/.pt file or zoo name: its kind, metadata, size, inputs and outputs, and the "
                        "engine it would run on here (default: describe the installation)")
    n.add_argument("--json", action="store_true", help="print a machine-readable summary on stdout")

    e = sub.add_parser("eval", help="quality figures of stylized output")
    metrics = e.add_subparsers(dest="metric", required=True, parser_class=_Parser)
    es = metrics.add_parser("style", help="style (Gram) and content distances of stylized images")
    es.add_argument("outputs", nargs="+", help="stylized images")
    es.add_argument("--content", required=True, help="the photo they were made from")
    es.add_argument("--style-image", required=True, help="the painting whose style they should have")
    es.add_argument("--style-size", type=int, default=512, help="longer side of the style image (default 512)")
    es.add_argument("--vgg-weights", help="local VGG16 weights (else $STYLESTREAM_VGG_WEIGHTS, else download)")
    es.add_argument("--json", action="store_true", help="print a machine-readable summary on stdout")
    et = metrics.add_parser("temporal", help="warping error and sharpness of a stylized video")
    et.add_argument("source", help="the original video")
    et.add_argument("output", help="its stylized version")
    et.add_argument("--flow", default="dis", metavar="METHOD",
                    help="optical flow for the metric: dis (default) or farneback, which shares no error "
                         "with the runtime's DIS flow")
    et.add_argument("--json", action="store_true", help="print a machine-readable summary on stdout")

    for command in installed_commands().values():
        command.add_arguments(sub.add_parser(command.name, help=command.help))

    g = sub.add_parser("generate", help="images from a StyleGAN generator: a grid of seeds, or a style-mixing grid")
    g.add_argument("--generator", help=GENERATOR_HELP)
    g.add_argument("--seeds", default="0-15", help="seeds to draw, e.g. 1-16 or 3,7,9 (default 0-15)")
    g.add_argument("--mix", nargs=2, metavar=("ROWS", "COLS"),
                   help="style-mixing grid: row seeds keep their styles before --crossover, column seeds give the rest")
    g.add_argument("--crossover", type=int, help="first style layer taken from the column seed (default: half)")
    g.add_argument("--cols", type=int, help="grid columns (default: a square grid)")
    g.add_argument("-o", "--output", required=True, help="grid image (.png or .jpg)")
    _generator_options(g)

    d = sub.add_parser("dream", help="an endless smooth walk through a generator's latent space")
    d.add_argument("--generator", help=GENERATOR_HELP)
    d.add_argument("--record", metavar="OUT.mp4", help="also write the walk to a video file")
    d.add_argument("--no-window", action="store_true", help="show no window (needs --record)")
    d.add_argument("--frames", type=int, help="stop after this many frames (default: until closed; "
                                              f"{DREAM_RECORD_SECONDS:g} s with --no-window)")
    d.add_argument("--seconds", type=float, help="stop after this long")
    d.add_argument("--fps", type=float, default=30.0, help="frame rate of the window and the recording (default 30)")
    d.add_argument("--key-seconds", type=float, default=2.0, help="seconds from one keyframe latent to the next")
    d.add_argument("--seed", type=int, default=0, help="first keyframe's seed; keyframe k uses seed + k")
    d.add_argument("--size", type=int, help="frame size in px (default: the generator's resolution)")
    _encoder_options(d)
    _generator_options(d)
    return p


def _encoder_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--crf", type=int, default=18, help="H.264 quality, lower is better (default 18)")
    p.add_argument("--preset", choices=X264_PRESETS, default=DEFAULT_PRESET,
                   help=f"x264 speed/size trade-off (default {DEFAULT_PRESET}; slower presets make smaller files)")


def _generator_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--trunc", type=float, default=1.0, metavar="PSI",
                   help="truncation ψ, 0..1: 1 plain, lower trades variety for typical images (default 1)")
    p.add_argument("--noise", choices=NOISE_MODES, default="const",
                   help="per-pixel noise: the model's fixed noise, fresh noise each image, or none")
    p.add_argument("--device", choices=DEVICES, default="auto",
                   help="where the generator runs; auto: an NVIDIA GPU where an installed engine can use it")
    p.add_argument("--json", action="store_true", help="print a machine-readable summary on stdout")


def _emit(args, summary: dict, human: str) -> None:
    print(json.dumps(summary, indent=2) if getattr(args, "json", False) else human)


def _style_options(args) -> dict:
    return {"device": args.device, "backend": args.backend, "precision": args.precision, "arch": args.arch,
            "max_size": args.max_size, "strength": args.strength, "preserve_color": args.preserve_color,
            "style_images": tuple(args.style_image or ()), "mix": None if args.mix is None else tuple(args.mix)}


def _temporal_strength(args) -> float | None:
    return None if args.no_temporal else args.temporal_strength


def _exit_status(summary: dict) -> int:
    return EXIT_INTERRUPTED if summary.get("interrupted") else 0


def cmd_video(args) -> int:
    from stylestream import api

    from stylestream.jobs.batch import is_batch

    job = dict(crf=args.crf, preset=args.preset, temporal=_temporal_strength(args),
               progress=not (args.no_progress or args.json), **_region_options(args), **_style_options(args))
    if args.style_schedule is not None and args.style is not None:
        raise UserError("give --style or --style-schedule, not both")
    if is_batch(args.inputs):
        if args.style_schedule is not None:
            raise UserError("--style-schedule stylizes one video at a time")
        s = api.videos(args.inputs, args.output, args.style, **job)
        lines = [f"{v['input']} -> {v['output']} ({v['frames']} frames, {v['fps']:.1f} FPS)" for v in s["videos"]]
        if s["interrupted"]:
            lines.append(f"interrupted by {s['signal']}: the last video saved as far as it got")
        for v in s["videos"]:
            if "damaged" in v:
                print(f"stylestream: warning: {v['input']}: {v['damaged']}", file=sys.stderr)
        _emit(args, s, "\n".join(lines))
        return _report_failures(s, s["videos"], "videos") or _exit_status(s)
    s = api.video(args.inputs[0], args.output, args.style, style_schedule=args.style_schedule,
                  crossfade=args.crossfade, **job)
    line = (f"{s['frames']} frames in {s['seconds']:.1f} s ({s['fps']:.1f} FPS, {s['style']} on {s['device']}) "
            f"-> {s['output']}")
    if s["interrupted"]:
        line = f"interrupted by {s['signal']}: saved {line}"
    if "damaged" in s:
        print(f"stylestream: warning: {s['damaged']}", file=sys.stderr)
    _emit(args, s, line)
    return _exit_status(s)


def cmd_webcam(args) -> int:
    from stylestream import api

    s = api.webcam(args.camera, args.style, record=args.record, window=not args.no_window, capture_width=args.size,
                   seconds=args.seconds, crf=args.crf, preset=args.preset, temporal=_temporal_strength(args),
                   loop=args.loop, serve=args.serve, serve_public=args.serve_public,
                   virtual_camera=args.virtual_camera, **_region_options(args), **_style_options(args))
    _emit(args, s, f"{s['frames']} frames stylized at {s['fps']:.1f} FPS, {s['dropped']} stale camera frames dropped"
          + (f"; recorded {s['recorded_frames']} frames to {s['record']}" if s["record"] else ""))
    return _exit_status(s)


def cmd_image(args) -> int:
    from stylestream import api

    regions = _region_options(args)
    if args.optimize:
        if args.region or args.background_style or args.mask:
            raise UserError("--region, --background-style and --mask work with style models, not --optimize")
        if len(args.style_image or ()) > 1:
            raise UserError("--optimize matches one --style-image")
        s = api.optimize(args.inputs, args.output, (args.style_image or [None])[0], balance=args.balance,
                         steps=args.steps, optimizer=args.optimizer, scales=tuple(args.scales),
                         max_minutes=args.max_minutes, vgg_weights=args.vgg_weights, device=args.device,
                         max_size=args.max_size, strength=args.strength, preserve_color=args.preserve_color,
                         progress=not (args.no_progress or args.json))
    else:
        s = api.images(args.inputs, args.output, args.style, progress=not (args.no_progress or args.json),
                       **regions, **_style_options(args))
    _emit(args, s, "\n".join(f"{r['input']} -> {r['output']}" for r in s["images"]))
    return _report_failures(s, s["images"], "images") or _exit_status(s)


def _report_failures(summary: dict, written: list, kind: str) -> int:
    """A batch's failures on stderr, one line each and a count; exit status 2 if there were any."""
    failed = summary.get("failed") or []
    for f in failed:
        print(f"stylestream: error: {f['error']}", file=sys.stderr)
    if not failed:
        return 0
    print(f"stylestream: {len(failed)} of {len(failed) + len(written)} {kind} failed (above); "
          f"{len(written)} written", file=sys.stderr)
    return EXIT_USAGE


def _engine_line(engine: dict) -> str:
    return f"{engine['backend']} on {engine['device']}, {engine['precision']}"


def cmd_info_model(args) -> int:
    from stylestream.info import describe_model

    s = describe_model(args.model)
    if args.json:
        print(json.dumps(s, indent=2))
        return 0
    print(f"{'file':12s} {s['path']} ({s['file_mb']} MB)")
    print(f"{'kind':12s} {s['kind_name']}" + (f" ({s['kind']})" if s["kind"] not in (None, s["kind_name"]) else ""))
    if s["parameters"] is not None:
        print(f"{'parameters':12s} {s['parameters']:,}")
    if s["macs_per_pixel"] is not None:
        print(f"{'cost':12s} {s['macs_per_pixel']:,} multiply-adds per pixel")
    for role in ("inputs", "outputs"):
        for v in s[role] or []:
            print(f"{role[:-1]:12s} {v['name']} {'×'.join(map(str, v['shape']))}")
    print(f"{'engine':12s} " + (_engine_line(s["engine"]) + " (default options, this machine)" if s["engine"]
                                else "none: stylestream runs only the models it exports"))
    for key, value in s["metadata"].items():
        if key != "kind":
            print(f"  {key:16s} {value}")
    return 0


def cmd_info(args) -> int:
    from stylestream.info import collect

    if args.model:
        return cmd_info_model(args)
    s = collect()
    if args.json:
        print(json.dumps(s, indent=2))
        return 0
    for k, v in s["versions"].items():
        print(f"{k:12s} {v}")
    print(f"{'providers':12s} {', '.join(s['onnxruntime_providers'])}")
    if s["cuda_device"]:
        usable = ", ".join(s["cuda_usable_by"]) or "no installed engine (pip install 'stylestream[gpu]')"
        print(f"{'cuda':12s} {s['cuda_device']}, used by {usable}")
    else:
        print(f"{'cuda':12s} none")
    print(f"{'engine':12s} {_engine_line(s['default_engine'])} (a zoo style with the default options)")
    print("zoo:")
    for name, sizes in s["zoo"].items():
        for arch, m in sizes.items():
            print(f"  {name:10s} {arch:8s} width {m.get('width', '?')}, trained at {m.get('train_size', '?')} px "
                  f"for {m.get('steps', '?')} steps on {m.get('style_image', '?')} ({m['file_mb']} MB)")
    return 0


def cmd_eval(args) -> int:
    from stylestream.evaluate import style_quality, temporal_quality

    if args.metric == "temporal":
        s = temporal_quality(args.source, args.output, method=args.flow)
        _emit(args, s, f"{s['output']}: warping error {s['warping_error']:.5f}  sharpness {s['sharpness']:.4f} "
                       f"({s['frames']} frames, {s['flow']} flow)")
        return 0
    s = style_quality(args.outputs, args.content, args.style_image, args.vgg_weights, args.style_size)
    _emit(args, s, "\n".join(f"{r['output']}: style {r['style']:.4f}  content {r['content']:.4f}"
                             for r in s["results"]))
    return 0


def cmd_generate(args) -> int:
    from stylestream import api

    s = api.generate(args.generator, args.output, seeds=args.seeds, mix=args.mix, crossover=args.crossover,
                     cols=args.cols, trunc=args.trunc, noise=args.noise, device=args.device)
    if args.mix:
        _emit(args, s, f"{len(s['rows'])}×{len(s['cols'])} style-mixing grid (crossover at layer {s['crossover']} "
                       f"of {s['num_ws']}) -> {s['output']}")
    else:
        _emit(args, s, f"{len(s['seeds'])} images ({s['resolution']} px, psi {s['psi']:g}) -> {s['output']}")
    return 0


def cmd_dream(args) -> int:
    from stylestream import api

    s = api.dream(args.generator, record=args.record, window=not args.no_window, frames=args.frames,
                  seconds=args.seconds, fps=args.fps, key_seconds=args.key_seconds, seed=args.seed, size=args.size,
                  trunc=args.trunc, noise=args.noise, device=args.device, crf=args.crf, preset=args.preset)
    line = (f"{s['frames']} frames at {s['fps']:.1f} FPS (generator alone {s['generator_fps']:.1f} FPS, "
            f"{s['size']} px on {s['device']})" + (f"; recorded to {s['record']}" if s["record"] else ""))
    _emit(args, s, f"interrupted by {s['signal']}: {line}" if s["interrupted"] else line)
    return _exit_status(s)


COMMANDS = {"video": cmd_video, "webcam": cmd_webcam, "image": cmd_image, "info": cmd_info, "eval": cmd_eval,
            "generate": cmd_generate, "dream": cmd_dream}


def main(argv: list[str] | None = None) -> None:
    debug = os.environ.get("STYLESTREAM_DEBUG") == "1"
    # Our errors are one line each; OpenCV's FFmpeg and its own logger would add their own.
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
    os.environ.setdefault("OPENCV_LOG_LEVEL", "OFF")
    # Formats whose size imagefile cannot read from the header: OpenCV checks its own limit
    # from theirs, read once when OpenCV loads, so it is set before anything imports cv2.
    from stylestream.imagefile import max_image_pixels
    os.environ.setdefault("OPENCV_IO_MAX_IMAGE_PIXELS", str(max_image_pixels()))
    # A SlowWarning is advice to the user: one line, not Python's warning with its source line.
    default_showwarning = warnings.showwarning

    def show_warning(message, category, *rest, **kwargs):
        if issubclass(category, SlowWarning):
            print(f"stylestream: warning: {message}", file=sys.stderr)
        else:
            default_showwarning(message, category, *rest, **kwargs)

    warnings.showwarning = show_warning
    try:
        args = build_parser().parse_args(argv)
        code = COMMANDS[args.command](args) if args.command in COMMANDS else run_installed(args)
    except UserError as exc:
        if debug:
            raise
        print(f"stylestream: error: {exc}", file=sys.stderr)
        code = exc.exit_code
    except KeyboardInterrupt:
        print("stylestream: interrupted", file=sys.stderr)
        code = EXIT_INTERRUPTED
    except OSError as exc:  # the system's refusal (disk full, a vanished folder), not a bug
        if debug:
            raise
        where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
        print(f"stylestream: error: {where}{exc.strerror or exc}", file=sys.stderr)
        code = EXIT_USAGE
    except Exception as exc:  # a bug, not bad input: still one line unless debugging
        if debug:
            raise
        if isinstance(exc, ModuleNotFoundError) and exc.name in OPTIONAL_MODULES:
            print(f"stylestream: error: this needs {exc.name}, which the plain install leaves out: "
                  f"{OPTIONAL_MODULES[exc.name]}", file=sys.stderr)
            code = EXIT_USAGE
        else:
            print(f"stylestream: internal error: {exc.__class__.__name__}: {exc} (STYLESTREAM_DEBUG=1 for details)",
                  file=sys.stderr)
            code = 1
    if code == EXIT_INTERRUPTED:
        # Python puts its own handlers back to the defaults while it shuts down (freeing the
        # engines takes a moment); one more Ctrl-C then would end the process by SIGINT
        # instead of 130. Ignored signals are left alone.
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_IGN)
    sys.exit(code)
