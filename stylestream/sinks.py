"""Frame sinks: video files through PyAV, and a window through OpenCV.

Every output the runtime writes (videos here, images through write_file_atomically) goes
through PendingFile: written under a temporary name beside the target and renamed only when
complete, so a reader never sees a half-written file under the name it asked for, and a
failure (disk full, a killed run) leaves an existing file as it was.
"""
from __future__ import annotations

import os
import sys
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

from stylestream.errors import UserError


# Marks a file being written: `.NAME.partial-PID.SUFFIX` beside NAME.SUFFIX.
PARTIAL_MARK = ".partial-"


def temporary_path(path: Path) -> Path:
    # Same folder (rename is atomic) and same suffix (the muxer is chosen by it).
    return path.with_name(f".{path.stem}{PARTIAL_MARK}{os.getpid()}{path.suffix}")


def _process_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:     # someone else's process
        return True
    return True


def remove_stale_temporaries(path: Path) -> list[Path]:
    """Deletes the temporary files a killed run left while writing `path` (those whose
    process no longer runs); another run writing the same output now keeps its own."""
    import glob

    prefix, suffix = f".{path.stem}{PARTIAL_MARK}", path.suffix
    removed = []
    parent = path.parent if str(path.parent) else Path(".")
    for stale in parent.glob(glob.escape(prefix) + "*" + glob.escape(suffix)):
        pid = stale.name[len(prefix):len(stale.name) - len(suffix)]
        if pid.isdigit() and int(pid) != os.getpid() and not _process_running(int(pid)):
            stale.unlink(missing_ok=True)
            removed.append(stale)
    return removed


def same_file(a: str | Path, b: str | Path) -> bool:
    """True when both names reach the same file: equal paths, symlinks, hard links."""
    try:
        return os.path.samefile(a, b)
    except (OSError, ValueError):      # either one missing (or not a path at all)
        return False


def refuse_overwriting_inputs(output: str | Path, inputs) -> None:
    """UserError when `output` is one of `inputs` under any name; call before writing anything."""
    for name in inputs:
        if name is not None and same_file(name, output):
            raise UserError(f"{output} is the input {name}: the output would overwrite it; "
                            "choose another output name")


def write_error(path: Path, exc: OSError) -> UserError:
    """A failed write (disk full, read-only or special file system) as the user's one line."""
    reason = exc.strerror or str(exc) or exc.__class__.__name__
    return UserError(f"cannot write {path}: {reason}")


def check_writable(path: Path) -> None:
    parent = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise UserError(f"{path}: is a folder; give an output file name")
    if path.exists() and not path.is_file():
        # Replacing a device or a pipe with a regular file (as root, /dev/null) breaks the system.
        raise UserError(f"{path}: is not a regular file; give an output file name")
    if not parent.is_dir():
        raise UserError(f"output folder does not exist: {parent}")
    if not os.access(parent, os.W_OK):
        raise UserError(f"cannot write to {parent}")


class PendingFile:
    """An output written under a temporary name beside its target and renamed over it only
    once complete, so the target is either untouched or whole. Stale temporaries of killed
    runs for the same target are removed first; creating the temporary file at once shows a
    file system that refuses it (read-only, /proc) before any work is done."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        check_writable(self.path)
        remove_stale_temporaries(self.path)
        self.tmp = temporary_path(self.path)
        try:
            self.tmp.open("wb").close()
        except OSError as exc:
            self.discard()
            raise write_error(self.path, exc) from None

    def commit(self) -> Path:
        try:
            os.replace(self.tmp, self.path)
        except OSError as exc:
            self.discard()
            raise write_error(self.path, exc) from None
        return self.path

    def discard(self) -> None:
        try:
            self.tmp.unlink(missing_ok=True)
        except OSError:
            pass


def write_file_atomically(path: str | Path, data) -> Path:
    """Writes `data` (bytes or a numpy buffer) to `path` through a PendingFile."""
    pending = PendingFile(path)
    try:
        with pending.tmp.open("wb") as f:
            f.write(memoryview(data))
    except OSError as exc:
        pending.discard()
        raise write_error(pending.path, exc) from None
    except BaseException:
        pending.discard()
        raise
    return pending.commit()


X264_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow")
# x264's encode is the runtime's second-largest CPU cost after the net. On stylized 720p
# (bigbuckbunny, crf 18, one thread) superfast takes 11.1 ms a frame against veryfast's
# 22.1, for files 8 % larger at 0.3 dB lower PSNR; ultrafast doubles the file size.
DEFAULT_PRESET = "superfast"
# Live frames carry wall-clock timestamps in milliseconds.
MILLISECOND = Fraction(1, 1000)


class VideoFileSink:
    """H.264 (libx264, or NVENC when asked and present) in yuv420p; audio packets copied.

    Frame timestamps are kept as the source gave them (in its time base), so variable
    frame rate video stays in sync with its audio. yuv420p needs even sizes: an odd
    width or height loses its last column or row. A frame smaller than the output is scaled
    up to it (bilinear), so a job may hand over frames at the size it stylized them.
    """

    def __init__(self, path: str | Path, width: int, height: int, rate: Fraction,
                 time_base: Fraction | None = None, audio_streams=(), crf: int = 18,
                 preset: str = DEFAULT_PRESET, encoder: str = "libx264"):
        import av
        from av.video.reformatter import VideoReformatter

        self.path = Path(path)
        self.width, self.height = width - width % 2, height - height % 2
        if self.width < 2 or self.height < 2:
            raise UserError(f"video too small to encode: {width}×{height}")
        self._pending = PendingFile(self.path)
        self.tmp = self._pending.tmp
        try:
            self.container = av.open(str(self.tmp), "w")
        except (av.error.FFmpegError, ValueError) as exc:
            self._pending.discard()
            raise UserError(f"{self.path}: cannot write this kind of file ({exc})") from None
        self.time_base = time_base or Fraction(1, 1000)
        self.audio_map = {}      # source stream index → (output stream, decoder or None)
        self._audio_dts: dict[int, int] = {}     # last copied packet's dts, per source stream
        self.audio_packets_dropped = 0
        try:
            self.stream = self._add_video_stream(encoder, rate, crf, preset)
            for src in audio_streams:
                self._add_audio_stream(src)
        except BaseException:
            self.abort()
            raise
        self._to_yuv = VideoReformatter()
        self.frames = 0
        self.encode_seconds = 0.0
        self._next_pts = 0

    def _add_video_stream(self, encoder: str, rate: Fraction, crf: int, preset: str):
        import av

        try:
            stream = self.container.add_stream(encoder, rate=rate)
        except ValueError:
            self.abort()
            raise UserError(f"{self.path}: a {self.path.suffix or 'suffix-less'} file cannot hold H.264 video; "
                            "use .mp4, .mkv or .mov") from None
        stream.width, stream.height, stream.pix_fmt = self.width, self.height, "yuv420p"
        stream.codec_context.time_base = self.time_base
        stream.time_base = self.time_base
        if encoder == "libx264":
            stream.options = {"crf": str(crf), "preset": preset}
        elif "nvenc" in encoder:
            stream.options = {"cq": str(crf), "preset": "p4"}
        # A broken encoder setup shows now, not after the first frame is stylized.
        try:
            stream.codec_context.open()
        except av.error.FFmpegError as exc:
            self.abort()
            raise UserError(f"cannot start the {encoder} encoder ({exc})") from None
        return stream

    def _add_audio_stream(self, src) -> None:
        name = src.codec_context.name
        if name in (self.container.supported_codecs or ()):
            out = self.container.add_stream_from_template(src)
            self.audio_map[src.index] = (out, None)
        else:
            # The container cannot hold this codec: re-encode to AAC.
            out = self.container.add_stream("aac", rate=src.codec_context.sample_rate)
            out.layout = src.codec_context.layout
            self.audio_map[src.index] = (out, src.codec_context)

    def write(self, image: np.ndarray, pts: int | None = None, time_base: Fraction | None = None) -> None:
        import av

        t0 = time.perf_counter()
        if image.shape[0] >= self.height and image.shape[1] >= self.width:
            image = image[: self.height, : self.width]       # an odd source's last row or column
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
        # One swscale pass to the encoder's YUV, which also scales up a frame stylized below the
        # output size: at 720p that is 0.5 ms against 5 ms for an RGB resize and then conversion.
        frame = self._to_yuv.reformat(frame, self.width, self.height, "yuv420p", interpolation="BILINEAR")
        if pts is None:
            pts = self._next_pts
        elif time_base is not None and time_base != self.time_base:
            pts = int(round(pts * time_base / self.time_base))
        pts = max(pts, self._next_pts)  # the muxer needs strictly increasing timestamps
        frame.pts, frame.time_base = pts, self.time_base
        self._next_pts = pts + 1
        self._mux(self.stream.encode(frame))
        self.frames += 1
        self.encode_seconds += time.perf_counter() - t0

    def write_audio(self, packet) -> None:
        entry = self.audio_map.get(packet.stream.index)
        if entry is None:
            return
        out, decoder = entry
        if decoder is None:
            # Joined files (a concat playlist, an edited stream) can step audio time back at a
            # seam; the muxer refuses that (EINVAL), so such a packet is dropped, as ffmpeg does.
            index, last = packet.stream.index, self._audio_dts.get(packet.stream.index)
            if packet.dts is not None:
                if last is not None and packet.dts <= last:
                    self.audio_packets_dropped += 1
                    return
                self._audio_dts[index] = packet.dts
            packet.stream = out
            self._mux(packet)
        else:
            for frame in decoder.decode(packet):
                frame.pts = None
                self._mux(out.encode(frame))

    def _mux(self, packets) -> None:
        try:
            self.container.mux(packets)
        except OSError as exc:      # disk full, file system gone: the temporary file goes too
            self.abort()
            raise write_error(self.path, exc) from None

    def close(self) -> Path:
        """Flush encoders, finish the container, move it to its final name."""
        self._mux(self.stream.encode(None))
        for out, decoder in self.audio_map.values():
            if decoder is not None:
                self._mux(out.encode(None))
        try:
            self.container.close()
        except OSError as exc:
            self.abort()
            raise write_error(self.path, exc) from None
        return self._pending.commit()

    def abort(self) -> None:
        try:
            self.container.close()
        except Exception:
            pass
        self._pending.discard()


def pick_encoder(device: str) -> str:
    """NVENC when running on CUDA and this FFmpeg build has it; libx264 otherwise."""
    import av

    if device == "cuda" and "h264_nvenc" in av.codecs_available:
        try:
            ctx = av.CodecContext.create("h264_nvenc", "w")
            ctx.width, ctx.height, ctx.pix_fmt, ctx.time_base = 64, 64, "yuv420p", Fraction(1, 25)
            ctx.open()  # fails without an NVIDIA driver
            return "h264_nvenc"
        except Exception:
            pass
    return "libx264"


# Where fonts live on Linux, searched for a folder that holds some (Qt's own font database
# does not look in subfolders).
SYSTEM_FONT_DIRS = ("/usr/share/fonts", "/usr/local/share/fonts", "~/.local/share/fonts", "~/.fonts")
FONT_SUFFIXES = (".ttf", ".otf", ".ttc", ".pfa", ".pfb")


def font_folder() -> str | None:
    """The first folder of SYSTEM_FONT_DIRS (or below) with font files in it; None if none."""
    for top in SYSTEM_FONT_DIRS:
        for folder, _, files in sorted(os.walk(os.path.expanduser(top))):
            if any(f.lower().endswith(FONT_SUFFIXES) for f in files):
                return folder
    return None


def quiet_qt_fonts() -> None:
    """opencv-python's loader points Qt at a font folder inside the cv2 package that its wheels
    do not ship, and Qt warns about it on stderr each time it looks for a font (about ten times
    as a window opens). Point it at the system's fonts instead, or where there are none, turn
    those warnings off (the overlay is drawn with OpenCV's own fonts). Call before the window."""
    fontdir = os.environ.get("QT_QPA_FONTDIR")
    if not sys.platform.startswith("linux") or (fontdir and os.path.isdir(fontdir)):
        return
    found = font_folder()
    if found:
        os.environ["QT_QPA_FONTDIR"] = found
    else:
        rules = os.environ.get("QT_LOGGING_RULES")
        os.environ["QT_LOGGING_RULES"] = ";".join(r for r in (rules, "default.warning=false") if r)


class WindowSink:
    """An OpenCV window with an FPS overlay; `key()` returns the pressed key or -1."""

    def __init__(self, title: str = "stylestream"):
        import cv2

        self.cv2, self.title = cv2, title
        if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
            # OpenCV's Qt backend aborts the whole process without a display: ask first.
            raise UserError("cannot open a window here (no display); use --no-window")
        quiet_qt_fonts()
        try:
            cv2.namedWindow(title, cv2.WINDOW_NORMAL)
        except cv2.error:
            raise UserError("cannot open a window here (no display?); use --no-window") from None

    def show(self, image: np.ndarray, lines: list[str]) -> None:
        cv2 = self.cv2
        bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
        for i, text in enumerate(lines):
            org = (10, 24 + 22 * i)
            cv2.putText(bgr, text, org, cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 3, cv2.LINE_AA)
            cv2.putText(bgr, text, org, cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 1, cv2.LINE_AA)
        cv2.imshow(self.title, bgr)

    def key(self, wait_ms: int = 1) -> int:
        k = self.cv2.waitKey(wait_ms)
        return -1 if k < 0 else k & 0xFF

    def close(self) -> None:
        self.cv2.destroyWindow(self.title)
