"""Image files in and out: every picture the runtime reads or writes goes through
read_image and write_image.

Reading starts with what the file says about itself before it is decoded: its size, from the
header of the common formats, and its EXIF orientation; the decode's C libraries' own
messages are caught rather than printed. Writing encodes by suffix and renames into place
only once complete (sinks.write_file_atomically).

The size comes first so that a small file claiming an enormous picture (a 5 MB PNG of
20000×20000 decodes to 1.2 GB) is refused before anything is allocated. This module does
not import OpenCV at load: the CLI reads the pixel limit from it before OpenCV is loaded.
"""
from __future__ import annotations

import os
import struct
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from stylestream.errors import UserError
from stylestream.sinks import check_writable, write_file_atomically

DEFAULT_MAX_PIXELS = 100_000_000
# Formats a stylized picture is written in when its input was one (others become PNG), and
# those a folder given as input contributes.
WRITABLE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")
READABLE_SUFFIXES = (*WRITABLE_SUFFIXES, ".gif", ".pbm", ".pgm", ".ppm", ".pnm", ".jp2", ".avif")


def max_image_pixels() -> int:
    """The largest picture `image` decodes; STYLESTREAM_MAX_PIXELS overrides it."""
    return int(os.environ.get("STYLESTREAM_MAX_PIXELS", DEFAULT_MAX_PIXELS))


def _u16(data: bytes, at: int, big: bool = True) -> int:
    return struct.unpack_from(">H" if big else "<H", data, at)[0]


def _u32(data: bytes, at: int, big: bool = True) -> int:
    return struct.unpack_from(">I" if big else "<I", data, at)[0]


# JPEG start-of-frame markers (C4 DHT, C8 JPG and CC DAC share the range but are not frames).
_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _jpeg_segments(data: bytes):
    """(marker, payload start, payload end) of each JPEG segment up to the scan data."""
    at = 2
    while at + 4 <= len(data):
        if data[at] != 0xFF:
            return
        marker = data[at + 1]
        if marker == 0xFF:              # fill byte
            at += 1
            continue
        if marker in (0x01, *range(0xD0, 0xD8)):   # no payload
            at += 2
            continue
        if marker in (0xD9, 0xDA):      # end of image, start of scan
            return
        length = _u16(data, at + 2)
        yield marker, at + 4, at + 2 + length
        at += 2 + length


def _tiff_entries(data: bytes, base: int):
    """(tag, value) of the first IFD of a TIFF structure at `base` (a TIFF file, or EXIF)."""
    order = data[base:base + 2]
    if order not in (b"II", b"MM"):
        return
    big = order == b"MM"
    ifd = base + _u32(data, base + 4, big)
    count = _u16(data, ifd, big)
    for i in range(count):
        entry = ifd + 2 + 12 * i
        if entry + 12 > len(data):
            return
        tag, kind = _u16(data, entry, big), _u16(data, entry + 2, big)
        value = _u16(data, entry + 8, big) if kind == 3 else _u32(data, entry + 8, big)
        yield tag, value


def _pnm_size(data: bytes) -> tuple[int, int] | None:
    tokens: list[bytes] = []
    for line in data[2:512].split(b"\n"):
        tokens += line.split(b"#")[0].split()
        if len(tokens) >= 2:
            return int(tokens[0]), int(tokens[1])
    return None


def header_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) as the header of a PNG, JPEG, GIF, BMP, WebP, TIFF or PNM file
    claims it; None for other formats (OpenCV's own limit, set by the CLI, covers those)."""
    try:
        if data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR":
            return _u32(data, 16), _u32(data, 20)
        if data[:2] == b"\xff\xd8":
            for marker, start, _ in _jpeg_segments(data):
                if marker in _JPEG_SOF:
                    return _u16(data, start + 3), _u16(data, start + 1)
            return None
        if data[:6] in (b"GIF87a", b"GIF89a"):
            return _u16(data, 6, False), _u16(data, 8, False)
        if data[:2] == b"BM":
            if _u32(data, 14, False) == 12:        # OS/2 header
                return _u16(data, 18, False), _u16(data, 20, False)
            w, h = struct.unpack_from("<ii", data, 18)
            return abs(w), abs(h)
        if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
            chunk = data[12:16]
            if chunk == b"VP8X":
                return 1 + int.from_bytes(data[24:27], "little"), 1 + int.from_bytes(data[27:30], "little")
            if chunk == b"VP8 ":
                return _u16(data, 26, False) & 0x3FFF, _u16(data, 28, False) & 0x3FFF
            if chunk == b"VP8L":
                bits = _u32(data, 21, False)
                return 1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF)
            return None
        if data[:4] in (b"II*\x00", b"MM\x00*"):
            tags = dict(_tiff_entries(data, 0))
            return (tags[256], tags[257]) if 256 in tags and 257 in tags else None
        if data[:1] == b"P" and data[1:2] in b"123456" and len(data) > 2:
            return _pnm_size(data)
    except (struct.error, ValueError, IndexError):
        return None     # a header too short to say: the decoder will refuse the file
    return None


def exif_orientation(data: bytes) -> int:
    """The EXIF orientation (1–8) a JPEG, PNG (eXIf) or WebP (EXIF chunk) carries; 1 if none."""
    exif_at = None
    try:
        if data[:2] == b"\xff\xd8":
            for marker, start, _ in _jpeg_segments(data):
                if marker == 0xE1 and data[start:start + 6] == b"Exif\x00\x00":
                    exif_at = start + 6
                    break
        elif data[:8] == b"\x89PNG\r\n\x1a\n":
            at = 8
            while at + 8 <= len(data):
                length, kind = _u32(data, at), data[at + 4:at + 8]
                if kind == b"eXIf":
                    exif_at = at + 8
                    break
                if kind in (b"IDAT", b"IEND"):
                    break
                at += 12 + length
        elif data[:4] == b"RIFF" and data[8:12] == b"WEBP":
            at = 12
            while at + 8 <= len(data):
                kind, length = data[at:at + 4], _u32(data, at + 4, False)
                if kind == b"EXIF":
                    exif_at = at + 8 + (6 if data[at + 8:at + 14] == b"Exif\x00\x00" else 0)
                    break
                at += 8 + length + (length & 1)
        if exif_at is None:
            return 1
        value = dict(_tiff_entries(data, exif_at)).get(0x0112, 1)
    except (struct.error, IndexError):
        return 1
    return value if 1 <= value <= 8 else 1


def apply_orientation(image: np.ndarray, orientation: int) -> np.ndarray:
    """The picture as it should be shown: EXIF orientation 2–8 mirrors and/or turns it."""
    turned = {
        2: lambda a: a[:, ::-1],                        # mirrored left-right
        3: lambda a: a[::-1, ::-1],                     # upside down
        4: lambda a: a[::-1],                           # mirrored top-bottom
        5: lambda a: np.swapaxes(a, 0, 1),              # transposed
        6: lambda a: np.rot90(a, -1),                   # turned 90° clockwise to show
        7: lambda a: np.swapaxes(a, 0, 1)[::-1, ::-1],  # transversed
        8: lambda a: np.rot90(a, 1),                    # turned 90° counter-clockwise to show
    }.get(orientation)
    return image if turned is None else np.ascontiguousarray(turned(image))


def decode_quietly(data: np.ndarray, flags: int) -> tuple[np.ndarray | None, str]:
    """cv2.imdecode, with what its C libraries print on stderr (libpng's `libpng error: ...`
    for a damaged file) caught instead: (image or None, their first line or "").
    Anything another thread prints during the decode is caught too."""
    import cv2

    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as log:
        os.dup2(log.fileno(), 2)
        try:
            try:
                image = cv2.imdecode(data, flags)
            except cv2.error:
                image = None
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        log.seek(0)
        said = log.read(4096).decode("utf-8", "replace").strip().splitlines()
    return image, (said[0].strip() if said else "")


def _check_pixels(path: Path, width: int, height: int) -> None:
    if width * height > max_image_pixels():
        raise UserError(f"{path}: {width}×{height} is larger than the {max_image_pixels():,}-pixel limit "
                        "(raise STYLESTREAM_MAX_PIXELS to allow it)")


def read_image(path: Path) -> tuple[np.ndarray, np.ndarray | None, int]:
    """(RGB uint8, alpha or None, bit depth) of any image OpenCV reads, turned upright by its
    EXIF orientation; UserError otherwise. The pixel limit is checked from the header first."""
    import cv2

    path = Path(path)
    if not path.is_file():
        raise UserError(f"image not found: {path}")
    try:
        data = np.fromfile(str(path), dtype=np.uint8)
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror or exc}") from None
    if data.size == 0:
        raise UserError(f"{path}: empty file")
    head = data[:65536].tobytes()
    claimed = header_size(head)
    if claimed is not None:
        _check_pixels(path, *claimed)
    img, said = decode_quietly(data, cv2.IMREAD_UNCHANGED)
    if img is None:
        raise UserError(f"{path}: not a readable image" + (f" ({said})" if said else ""))
    _check_pixels(path, img.shape[1], img.shape[0])
    img = apply_orientation(img, exif_orientation(head))
    depth = 16 if img.dtype == np.uint16 else 8
    if img.dtype == np.uint16:
        img = (img // 257).astype(np.uint8)
    elif img.dtype != np.uint8:
        img = cv2.normalize(img, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
    alpha = None
    if img.ndim == 2:
        rgb = cv2.cvtColor(img, cv2.COLOR_GRAY2RGB)
    elif img.shape[2] == 4:
        alpha = img[..., 3].copy()
        rgb = cv2.cvtColor(img, cv2.COLOR_BGRA2RGB)
    else:
        rgb = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    return rgb, alpha, depth


def write_image(path: Path, rgb: np.ndarray, alpha: np.ndarray | None = None, depth: int = 8) -> Path:
    """Encodes by suffix and renames into place only once fully written."""
    import cv2

    path = Path(path)
    check_writable(path)
    img = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    if alpha is not None:
        img = np.dstack([img, alpha])
    if depth == 16 and path.suffix.lower() in (".png", ".tif", ".tiff"):
        img = img.astype(np.uint16) * 257
    try:
        ok, buf = cv2.imencode(path.suffix.lower() or ".png", img)
    except cv2.error:
        ok = False
    if not ok:
        raise UserError(f"{path}: cannot encode an image of this type (use .png or .jpg)")
    return write_file_atomically(path, buf)


def write_snapshot(rgb: np.ndarray, number: int, prefix: str = "stylestream") -> Path:
    """A window's `s` key: PREFIX-date-time-N.png in the current folder."""
    return write_image(Path(time.strftime(f"{prefix}-%Y%m%d-%H%M%S") + f"-{number}.png"), rgb)
