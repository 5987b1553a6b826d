"""The Python API, which the `stylestream` command is built on.

    import stylestream

    with stylestream.open(style="candy") as stylize:
        out = stylize(frame)            # H×W×3 uint8 RGB in, the same out

    stylestream.video("in.mp4", "out.mp4", style="mosaic")   # -> summary dict
    stylestream.image("photo.jpg", style="starry")            # -> path of the stylized image

Every option is checked here, once, before any work: a bad one raises UserError with one
line that names the command-line option it corresponds to. This module is light to import;
the engines, OpenCV and PyTorch load when a function needs them.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

from stylenets.gatys_defaults import BALANCE_RANGE, DEFAULT_BALANCE, DEFAULT_SCALES, DEFAULT_STEPS
from stylestream.errors import SlowWarning, UserError
from stylestream.regions import DEFAULT_FEATHER, REGIONS, check_feather
from stylestream.sinks import DEFAULT_PRESET, X264_PRESETS, refuse_overwriting_inputs
from stylestream.temporal.params import DEFAULT_STRENGTH
from stylestream.zoo import ARCH_CHOICES, DEFAULT_STYLE, resolve_generator

# Longest side a frame is stylized at unless max_size says otherwise: what a CPU keeps up
# with in real time, a GPU's full HD, and a still picture's detail.
MAX_SIZE_CPU, MAX_SIZE_GPU = 640, 1920
MAX_SIZE_IMAGE, MAX_SIZE_OPTIMIZE = 1024, 512
CRF_RANGE = (0, 51)             # H.264's quality scale
DREAM_FPS_RANGE = (1, 240)
MIN_DREAM_SIZE = 16
DREAM_RECORD_SECONDS = 10.0   # a recording with no window and no --frames/--seconds
OPTIMIZERS = ("lbfgs", "adam")
NOISE_MODES = ("const", "random", "none")


def _between(option: str, value: float, low: float, high: float) -> None:
    if not low <= value <= high:
        raise UserError(f"{option} must be between {low:g} and {high:g}")


@dataclass(frozen=True)
class StyleOptions:
    """How a style model runs: on which device, backend and arithmetic, at what size, and how
    its output is combined with the source. `arch` picks the size of a zoo style (auto: the
    compact net unless on a GPU); `max_size` None: the default of the job and the device.
    device, backend and precision are checked where they are used (backends.select.choose).
    `style_images`: pictures (or folders of them) to take the style from through the
    arbitrary-style model (stylestream.arbitrary), their codes averaged with the weights `mix`;
    `strength` then moves the style code rather than blending pixels."""
    device: str = "auto"
    backend: str = "auto"
    precision: str = "auto"
    arch: str = "auto"
    max_size: int | None = None
    strength: float = 1.0
    preserve_color: bool = False
    style_images: tuple[str, ...] = ()
    mix: tuple[float, ...] | None = None

    def __post_init__(self):
        _between("--strength", self.strength, 0, 1)
        if self.mix is not None and not self.style_images:
            raise UserError("--mix weighs --style-image pictures: give them")
        if self.arch not in ARCH_CHOICES:
            raise UserError(f"--arch must be one of {', '.join(ARCH_CHOICES)}")


@dataclass(frozen=True)
class RegionOptions:
    """Which part of each frame the style paints. `region`: person or background (the other
    part stays the source); `background_style`: a second style for the background, --style then
    paints the person; `mask`: a picture (images only), white = stylized with the style, the
    rest the source or the background style; `feather`: the seam's softening in output px."""
    region: str | None = None
    background_style: str | None = None
    feather: float = DEFAULT_FEATHER
    mask: str | Path | None = None

    def __post_init__(self):
        if self.region is not None and self.region not in REGIONS:
            raise UserError(f"--region must be one of {', '.join(REGIONS)}")
        if self.region is not None and self.mask is not None:
            raise UserError("--region and --mask exclude each other: the mask's white is what gets stylized")
        if self.region is not None and self.background_style is not None:
            raise UserError("--region and --background-style exclude each other: --style paints the person, "
                            "--background-style the rest")
        check_feather(self.feather)

    @property
    def active(self) -> bool:
        return self.region is not None or self.background_style is not None or self.mask is not None


def regions(plan: RegionOptions, options: StyleOptions, *, throughput: bool = False,
            default_max_size: int | None = None):
    """The job's regions.Regions for `plan` (None when it stylizes whole frames): the mask
    read and the background style opened now, before any work."""
    if not plan.active:
        return None
    from stylestream.regions import MaskTracker, Regions, read_mask

    fixed = read_mask(plan.mask) if plan.mask is not None else None
    background = None if plan.background_style is None else \
        stylizer(plan.background_style, options, throughput=throughput, default_max_size=default_max_size)
    return Regions(tracker=MaskTracker() if fixed is None else None, fixed=fixed,
                   invert=plan.region == "background", feather=plan.feather, background=background,
                   region=plan.region or ("person" if fixed is None else None))


def check_temporal(temporal: float | None) -> float | None:
    """The weight of the previous output where flow is reliable; None: no temporal consistency."""
    if temporal is not None:
        _between("--temporal-strength", temporal, 0, 1)
    return temporal


def check_encoding(crf: int, preset: str) -> dict:
    _between("--crf", crf, *CRF_RANGE)
    if preset not in X264_PRESETS:
        raise UserError(f"--preset must be one of {', '.join(X264_PRESETS)}")
    return {"crf": crf, "preset": preset}


def stylizer(style: str | None, options: StyleOptions, *, throughput: bool = False,
             default_max_size: int | None = None):
    """The Stylizer for a zoo name or model file. `throughput`: a video file, where several
    frames may be stylized at once (latency does not matter); a camera or an image wants each
    frame as fast as possible. `default_max_size` None: by device (MAX_SIZE_CPU/GPU)."""
    from stylestream.backends import choose, open_engine
    from stylestream.backends.torch import TorchEngine
    from stylestream.stylizer import Stylizer
    from stylestream.zoo import resolve_style

    o = options
    strength = o.strength
    if o.style_images:
        engine = arbitrary_engine(style, o, throughput)
        strength = 1.0      # it acted on the style code
    else:
        # The zoo's files are .onnx; the device they would run on picks the size of a zoo style.
        on_gpu = choose(".onnx", o.device, o.backend, o.precision).device == "cuda"
        if o.backend == "torch" and not on_gpu:
            warnings.warn("--backend torch on the CPU is many times slower than the default engines; leave "
                          "--backend out (auto: OpenVINO, or ONNX Runtime) unless comparing them",
                          SlowWarning, stacklevel=2)
        path = resolve_style(style, o.arch, on_gpu=on_gpu)
        engine = open_engine(path, o.device, o.backend, o.precision, throughput=throughput)
    if o.max_size is not None and o.max_size < engine.multiple:
        raise UserError(f"--max-size must be at least {engine.multiple}")
    max_size = o.max_size or default_max_size or (MAX_SIZE_GPU if engine.device == "cuda" else MAX_SIZE_CPU)
    if isinstance(engine, TorchEngine):     # frames stay on the device from upload to download
        from stylestream.gpu import TorchStylizer
        return TorchStylizer(engine, max_size, strength, o.preserve_color)
    return Stylizer(engine, max_size, strength, o.preserve_color)


def arbitrary_engine(model: str | None, options: StyleOptions, throughput: bool = False):
    """The engine that paints `options.style_images` (mixed by `options.mix`) through the
    arbitrary-style frame net `model` (None or the default zoo style: the installed one)."""
    from stylestream.arbitrary import ArbitraryModel, open_arbitrary_engine, style_pictures
    from stylestream.backends import choose, open_engine

    o = options
    if model == DEFAULT_STYLE:
        model = None
    if model is not None and not str(model).lower().endswith(".onnx"):
        raise UserError("--style-image takes the style from the picture: --style may only name an arbitrary-style "
                        ".frame.onnx")
    if choose(".onnx", o.device, o.backend, o.precision).backend not in ("onnxruntime", "openvino"):
        raise UserError("--style-image runs in ONNX Runtime or OpenVINO (on a GPU: pip install onnxruntime-gpu)")
    pictures = style_pictures(o.style_images)
    net = ArbitraryModel(model)
    return open_arbitrary_engine(net, pictures, o.mix, o.strength,
                                 lambda path: open_engine(path, o.device, o.backend, o.precision, throughput=throughput))


class StreamStylizer:
    """Frames of one stream stylized one at a time: `s(frame)` takes and gives H×W×3 uint8
    RGB. With temporal consistency each output is blended with the previous one where the
    optical flow is reliable; `reset()` starts afresh (at a cut, or for another stream).
    A context manager: `close()` stops its flow thread."""

    def __init__(self, stylizer, temporal: float | None, regions=None):
        from concurrent.futures import ThreadPoolExecutor

        from stylestream.jobs.live import LiveStylizer

        self._flow_pool = ThreadPoolExecutor(1, thread_name_prefix="flow")
        method = stylizer.temporal(DEFAULT_STRENGTH if temporal is None else temporal)
        if regions is not None:
            regions.start(temporal)
        self._live = LiveStylizer(stylizer, method, temporal is not None, self._flow_pool, regions)
        self.regions = regions
        self.engine = stylizer.engine
        self.temporal = temporal

    def __call__(self, frame):
        import numpy as np

        if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
            got = f"{frame.dtype} array of shape {frame.shape}" if isinstance(frame, np.ndarray) else type(frame).__name__
            raise UserError(f"a frame is an H×W×3 uint8 RGB array, not a {got}")
        if self._flow_pool is None:
            raise UserError("this stylizer is closed")
        return self._live(frame)

    def reset(self) -> None:
        self._live.reset()

    def close(self) -> None:
        if self._flow_pool is not None:
            self._flow_pool.shutdown(wait=True, cancel_futures=True)
            self._flow_pool = None

    def __enter__(self) -> StreamStylizer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def open(style: str | None = DEFAULT_STYLE, *, device: str = "auto", backend: str = "auto",  # noqa: A001
         precision: str = "auto", arch: str = "auto", max_size: int | None = None, strength: float = 1.0,
         preserve_color: bool = False, temporal: float | None = DEFAULT_STRENGTH, region: str | None = None,
         background_style: str | None = None, feather: float = DEFAULT_FEATHER) -> StreamStylizer:
    """A frame-by-frame stylizer for a zoo name or a .onnx/.pt model file. `temporal`: 0..1,
    the weight of the previous output where the flow is reliable; None stylizes each frame
    on its own. `region`, `background_style`, `feather`: see RegionOptions."""
    options = StyleOptions(device, backend, precision, arch, max_size, strength, preserve_color)
    check_temporal(temporal)
    plan = RegionOptions(region, background_style, feather)
    return StreamStylizer(stylizer(style, options), temporal, regions(plan, options))


def video(src: str | Path, dst: str | Path, style: str | None = DEFAULT_STYLE, *, crf: int = 18,
          preset: str = DEFAULT_PRESET, temporal: float | None = DEFAULT_STRENGTH, progress: bool = False,
          region: str | None = None, background_style: str | None = None, feather: float = DEFAULT_FEATHER,
          style_schedule: str | None = None, crossfade: str | float | None = None, **options) -> dict:
    """Stylizes a video file into an H.264 file with the source's audio; `options` are
    StyleOptions' fields, `region`, `background_style` and `feather` RegionOptions'.
    `style_schedule` ("0:starry,10s:candy,250f:mosaic") changes the style at those times
    instead of `style`, each blended into the next over `crossfade` (seconds, "1s" or "25f").
    Returns the job's summary (frames, fps, output, ...). A SIGINT or SIGTERM ends it early
    with a playable file and `interrupted` set."""
    from stylestream.jobs.batch import names_a_folder, video_output_name
    from stylestream.jobs.video import stylize_video

    encoding = check_encoding(crf, preset)
    check_temporal(temporal)
    style_options = StyleOptions(**options)
    plan = RegionOptions(region, background_style, feather)
    refuse_overwriting_inputs(dst, [src, style, background_style, *style_options.style_images])
    schedule = None
    if style_schedule is not None:
        if region is not None or background_style is not None or style_options.style_images:
            raise UserError("--style-schedule takes zoo names or model files for the whole frame: not with "
                            "--region, --background-style or --style-image")
        schedule = _style_schedule(style_schedule, crossfade, style_options, temporal, dst)
        engine_stylizer = schedule.stylizers[0]
    else:
        if crossfade is not None:
            raise UserError("--crossfade needs --style-schedule")
        engine_stylizer = stylizer(style, style_options, throughput=True)
    if names_a_folder(dst):     # an existing folder, or a name ending in /: INPUT.STYLE.mp4 in it
        dst = Path(dst) / video_output_name(Path(src), engine_stylizer.engine.name)
    return stylize_video(str(src), str(dst), engine_stylizer, **encoding, progress=progress,
                         temporal_strength=temporal, regions=regions(plan, style_options, throughput=True),
                         schedule=schedule)


def _style_schedule(text: str, crossfade: str | float | None, options: StyleOptions, temporal: float | None, dst):
    """The StyleSchedule for --style-schedule and --crossfade, each style's engine opened once."""
    from stylestream.schedule import CROSSFADE_OPTION, StyleSchedule, parse_moment, parse_schedule

    cues = parse_schedule(text)
    fade = parse_moment(str(crossfade), CROSSFADE_OPTION) if crossfade is not None else None
    refuse_overwriting_inputs(dst, [c.style for c in cues])
    opened: dict = {}
    for cue in cues:
        if cue.style not in opened:
            opened[cue.style] = stylizer(cue.style, options, throughput=True)
    return StyleSchedule(cues, [opened[c.style] for c in cues], fade, temporal)


def videos(paths: str | Path | list[str | Path], output: str | Path, style: str | None = DEFAULT_STYLE, *,
           crf: int = 18, preset: str = DEFAULT_PRESET, temporal: float | None = DEFAULT_STRENGTH,
           progress: bool = False, region: str | None = None, background_style: str | None = None,
           feather: float = DEFAULT_FEATHER, **options) -> dict:
    """A batch of video files, with the options of video(): `paths` is a folder (its videos), a glob pattern
    ("clips/*.mp4") or a list of files, folders and patterns; each is written as
    INPUT.STYLE.mp4 (.mkv and .mov keep theirs) into the folder `output` (created). A video
    that fails is listed in the summary's `failed` ({"input", "error"}) and the rest are still
    written; `videos` holds each written video's summary, as video() returns it."""
    from stylestream.jobs.batch import stylize_videos

    encoding = check_encoding(crf, preset)
    check_temporal(temporal)
    style_options = StyleOptions(**options)
    plan = RegionOptions(region, background_style, feather)
    paths = [paths] if isinstance(paths, (str, Path)) else paths
    engine_stylizer = stylizer(style, style_options, throughput=True)
    return stylize_videos([str(p) for p in paths], str(output), engine_stylizer, progress=progress, **encoding,
                          temporal_strength=temporal, regions=regions(plan, style_options, throughput=True))


def images(paths: str | Path | list[str | Path], output: str | Path | None = None,
           style: str | None = DEFAULT_STYLE, *, progress: bool = False,
           region: str | None = None, background_style: str | None = None, feather: float = DEFAULT_FEATHER,
           mask: str | Path | None = None, **options) -> dict:
    """Stylizes pictures: `paths` is a file, a folder (its pictures), a glob pattern
    ("photos/*.jpg") or a list of them. One file is a single job: `output` is the file to write
    (a name without suffix is refused) or a folder, and a failure raises UserError. Anything
    else is a batch: `output` is a folder (created), a picture that fails is listed in the
    summary's `failed` ({"input", "error"}) and the rest are still written. `output` None:
    beside each input, named INPUT.STYLE.ext. `region`, `background_style`, `feather`, `mask`: see
    RegionOptions (a mask of another size is resized to each picture). Returns the summary,
    `images` listing what was written."""
    from stylestream.jobs.images import stylize_images

    style_options = StyleOptions(**options)
    plan = RegionOptions(region, background_style, feather, mask)
    paths = [paths] if isinstance(paths, (str, Path)) else paths
    return stylize_images([str(p) for p in paths], None if output is None else str(output),
                          stylizer(style, style_options, default_max_size=MAX_SIZE_IMAGE),
                          regions(plan, style_options, default_max_size=MAX_SIZE_IMAGE),
                          others=[p for p in (mask, background_style) if p is not None], progress=progress)


def image(src: str | Path, dst: str | Path | None = None, style: str | None = DEFAULT_STYLE, **options) -> Path:
    """Stylizes one picture; returns the path written (beside `src` when `dst` is None)."""
    return Path(images([src], dst, style, **options)["images"][0]["output"])


def optimize(paths: str | Path | list[str | Path], output: str | Path | None, style_image: str | Path | None, *,
             balance: float = DEFAULT_BALANCE, steps: int | tuple[int, ...] | None = None, optimizer: str = "lbfgs",
             scales: tuple[float, ...] = DEFAULT_SCALES, max_minutes: float | None = None,
             vgg_weights: str | None = None, device: str = "auto", max_size: int | None = None,
             strength: float = 1.0, preserve_color: bool = False, progress: bool = False) -> dict:
    """Gatys et al.'s optimization of each picture against the painting `style_image`, with no
    trained model (slow; needs PyTorch and VGG16 weights). `paths` and `output` as for images().
    `balance`: 0 keeps the photo, 1 paints the painting's texture alone. `steps`: iterations at
    each of `scales` (one number: the same at every scale; None: DEFAULT_STEPS at the default
    scales, its last count at each of other scales). `max_minutes`: each picture stops there,
    with the best image so far. `progress`: a bar over the optimization steps of all the pictures."""
    from stylestream.jobs.images import optimize_images

    if not style_image:
        raise UserError("--optimize needs --style-image")
    _between("--balance", balance, *BALANCE_RANGE)
    if optimizer not in OPTIMIZERS:
        raise UserError(f"--optimizer must be one of {', '.join(OPTIMIZERS)}")
    if not scales or any(s <= 0 for s in scales):
        raise UserError("--scales must be positive")
    steps = optimize_steps(steps, tuple(scales))
    if max_minutes is not None and not max_minutes > 0:
        raise UserError("--max-minutes must be positive")
    _between("--strength", strength, 0, 1)
    paths = [paths] if isinstance(paths, (str, Path)) else paths
    return optimize_images([str(p) for p in paths], None if output is None else str(output), str(style_image),
                           max_size=max_size or MAX_SIZE_OPTIMIZE, steps=steps, optimizer=optimizer,
                           scales=tuple(scales), vgg_weights=vgg_weights, device=device, balance=balance,
                           max_seconds=None if max_minutes is None else 60 * max_minutes, strength=strength,
                           keep_color=preserve_color, progress=progress)


def optimize_steps(steps: int | tuple[int, ...] | list[int] | None, scales: tuple[float, ...]) -> tuple[int, ...]:
    """The iterations at each scale: `steps` for one per scale, one number for every scale,
    None for the defaults (DEFAULT_STEPS at DEFAULT_SCALES, its last count at each of others)."""
    if steps is None:
        steps = DEFAULT_STEPS if tuple(scales) == DEFAULT_SCALES else DEFAULT_STEPS[-1]
    counts = (steps,) * len(scales) if isinstance(steps, int) else tuple(steps)
    if len(counts) == 1:
        counts *= len(scales)
    if len(counts) != len(scales):
        raise UserError(f"--steps gives {len(counts)} counts for {len(scales)} --scales; give one, or one per scale")
    if any(n < 1 for n in counts):
        raise UserError("--steps must be at least 1")
    return counts


def webcam(camera: str = "0", styles: list[str] | None = None, *, record: str | Path | None = None,
           window: bool = True, capture_width: int | None = 640, seconds: float | None = None, crf: int = 18,
           preset: str = DEFAULT_PRESET, temporal: float | None = DEFAULT_STRENGTH, loop: bool = False,
           serve: str | None = None, serve_public: bool = False, virtual_camera: bool = False,
           region: str | None = None, background_style: str | None = None, feather: float = DEFAULT_FEATHER,
           **options) -> dict:
    """A live camera (an index, /dev/videoN, a stream URL or a video file played as one;
    `loop` plays a file again and again) through one or more styles, to a window (keys: q
    quit, space pause, s snapshot, n/p style, t temporal consistency), a recording (a file,
    or an rtmp://, srt:// or udp:// URL to stream to), a virtual camera (pyvirtualcam) and/or
    a page served at `serve` ("HOST:PORT"; a host other than this computer's loopback needs
    `serve_public`) with the live stream and its controls. `region`, `background_style`,
    `feather`: see RegionOptions."""
    from stylestream.jobs.camera import LiveControls, LiveSettings, StyleBank, run_camera
    from stylestream.zoo import zoo_models

    encoding = check_encoding(crf, preset)
    check_temporal(temporal)
    if not window and not record and seconds is None and not serve and not virtual_camera:
        raise UserError("--no-window needs --record, --serve, --virtual-camera or --seconds: nothing would be "
                        "shown or saved, and nothing would end the run but Ctrl-C")
    if virtual_camera:
        from stylestream.jobs.virtual_camera import require_pyvirtualcam
        require_pyvirtualcam()
    address = None
    if serve:
        from stylestream.jobs.serve import parse_address
        address = parse_address(serve, serve_public)
    style_options = StyleOptions(**options)
    plan = RegionOptions(region, background_style, feather)
    styles = list(styles or [DEFAULT_STYLE])
    if record and "://" in str(record):
        from stylestream.jobs.stream_out import check_stream_url
        check_stream_url(str(record))
    elif record:
        refuse_overwriting_inputs(record, [camera, *styles, *style_options.style_images])
    picture_model = styles[0] if style_options.style_images else None    # the arbitrary-style net, if named
    if style_options.style_images:
        styles, bank = _picture_bank(picture_model, style_options)
    else:
        bank = StyleBank({s: stylizer(s, style_options) for s in styles},
                         lambda name: stylizer(name, style_options), more=list(zoo_models()))
    controls = LiveControls(bank, LiveSettings(styles[0], style_options.strength, style_options.preserve_color,
                                               temporal is not None))
    serve_output = None
    if address:
        from stylestream.jobs.serve import StudioServer
        picture_style = _picture_styles(picture_model, style_options)
        serve_output = lambda controls, status: StudioServer(address, controls, status, picture_style)  # noqa: E731
    return run_camera(str(camera), controls, record=None if record is None else str(record), window=window,
                      capture_width=capture_width, **encoding, max_seconds=seconds,
                      temporal_strength=DEFAULT_STRENGTH if temporal is None else temporal, loop=loop,
                      serve=serve_output, virtual_camera=virtual_camera, regions=regions(plan, style_options))


def _picture_styles(model: str | None, options: StyleOptions):
    """For the studio page: a viewer's uploaded picture (bytes, file suffix, name) → its
    stylizer through the arbitrary-style model `model` (None: the installed one). None when
    there is no such model."""
    import tempfile
    from dataclasses import replace

    from stylestream.arbitrary import DEFAULT_MODEL

    if model is None and not DEFAULT_MODEL.is_file():
        return None

    def picture_style(picture: bytes, suffix: str, name: str):
        with tempfile.TemporaryDirectory(prefix="stylestream-") as folder:
            path = Path(folder) / f"{name}{suffix}"
            path.write_bytes(picture)
            try:
                return stylizer(model or DEFAULT_STYLE, replace(options, style_images=(str(path),), mix=None))
            except UserError as exc:     # its message names the picture, not where it was kept
                message = str(exc).replace(f"--style-image {path}", path.name).replace(str(path), path.name)
                raise UserError(message) from None
    return picture_style


def _picture_bank(model: str, options: StyleOptions):
    """(style names, StyleBank) for --style-image in a live job: their mix with --mix, else one
    style per picture (n/p switch), each opened at its first use."""
    from dataclasses import replace

    from stylestream.arbitrary import style_pictures
    from stylestream.jobs.camera import StyleBank

    if options.mix is not None:
        first = stylizer(model, options)
        return [first.engine.name], StyleBank({first.engine.name: first})
    pictures = style_pictures(options.style_images)
    names = {}
    for p in pictures:  # pictures of the same name in different folders stay apart
        names[p.stem if p.stem not in names else f"{p.stem}-{len(names)}"] = p
    (first_name, first), *rest = names.items()
    bank = StyleBank({first_name: stylizer(model, replace(options, style_images=(str(first),)))})
    for name, p in rest:
        bank.add(name, lambda p=p: stylizer(model, replace(options, style_images=(str(p),))))
    return list(names), bank


def _generator(path: Path, trunc: float, noise: str, device: str):
    from stylestream.generator import GeneratorEngine

    _between("--trunc", trunc, 0, 1)
    if noise not in NOISE_MODES:
        raise UserError(f"--noise must be one of {', '.join(NOISE_MODES)}")
    return GeneratorEngine(path, device)


def generate(generator: str | Path | None, output: str | Path, *, seeds: str = "0-15", mix: tuple[str, str] | None = None,
             crossover: int | None = None, cols: int | None = None, trunc: float = 1.0, noise: str = "const",
             device: str = "auto") -> dict:
    """A grid of the generator's images for `seeds` (e.g. "0-15" or "3,7,9"); with `mix`
    (row seeds, column seeds) a style-mixing grid instead, crossing at layer `crossover`
    (default: half of the style layers)."""
    from stylestream.generator import parse_seeds
    from stylestream.jobs.generate import generate_grid, mixing_grid

    if cols is not None and cols < 1:
        raise UserError("--cols must be at least 1")
    generator = resolve_generator(None if generator is None else str(generator))
    refuse_overwriting_inputs(output, [generator])
    gen = _generator(generator, trunc, noise, device)
    if mix:
        rows, columns = parse_seeds(mix[0]), parse_seeds(mix[1])
        crossover = gen.num_ws // 2 if crossover is None else crossover
        return mixing_grid(gen, rows, columns, str(output), crossover, trunc, noise)
    return generate_grid(gen, parse_seeds(seeds), str(output), trunc, noise, cols)


def dream(generator: str | Path | None = None, *, record: str | Path | None = None, window: bool = True,
          frames: int | None = None, seconds: float | None = None, fps: float = 30.0, key_seconds: float = 2.0,
          seed: int = 0, size: int | None = None, trunc: float = 1.0, noise: str = "const", device: str = "auto",
          crf: int = 18, preset: str = DEFAULT_PRESET) -> dict:
    """A smooth walk through the generator's latent space (keyframe k from seed + k, one
    every `key_seconds`) to a window and/or a recording at `fps`. `generator` None is the
    zoo's default; a recording with no window and no length lasts DREAM_RECORD_SECONDS."""
    from stylestream.jobs.generate import dream as walk

    if frames is not None and frames < 1:
        raise UserError("--frames must be at least 1")
    _between("--fps", fps, *DREAM_FPS_RANGE)
    if key_seconds <= 0:
        raise UserError("--key-seconds must be positive")
    if size is not None and (size < MIN_DREAM_SIZE or size % 2):
        raise UserError(f"--size must be an even number of pixels, at least {MIN_DREAM_SIZE}")
    encoding = check_encoding(crf, preset)
    if not window and not record:
        raise UserError("--no-window needs --record: nothing would be shown or saved")
    if not window and frames is None and seconds is None:
        frames = round(DREAM_RECORD_SECONDS * fps)
    generator = resolve_generator(None if generator is None else str(generator))
    if record:
        refuse_overwriting_inputs(record, [generator])
    gen = _generator(generator, trunc, noise, device)
    return walk(gen, record=None if record is None else str(record), window=window, frames=frames,
                seconds=seconds, fps=fps, key_seconds=key_seconds, seed=seed, psi=trunc, noise=noise, size=size,
                **encoding)
