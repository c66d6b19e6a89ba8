"""Media made at test time (issue 14): oriented photos, HEIC/AVIF, wide gamut, HDR, phone clips."""

from __future__ import annotations

import struct
from pathlib import Path

from PIL import Image

from tests.test_processing_helpers import ffmpeg

RED, GREEN, WHITE = (220, 30, 30), (30, 180, 60), (255, 255, 255)
# EXIF orientation -> the transpose that turns stored pixels into displayed ones (CIPA DC-008).
DISPLAY = {
    2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE, 8: Image.Transpose.ROTATE_90,
}  # fmt: skip
_INVERSE = {Image.Transpose.ROTATE_270: Image.Transpose.ROTATE_90,
            Image.Transpose.ROTATE_90: Image.Transpose.ROTATE_270}  # fmt: skip
TAKEN = "2024:06:01 14:03:22"
PLACE = ((48.0, 51.0, 29.88), (2.0, 17.0, 40.2))  # 48.8583 N, 2.2945 E


def marked(size: tuple[int, int] = (800, 500)) -> Image.Image:
    """A picture as it must be shown: red block top left, green block top right, white else."""
    width, height = size
    picture = Image.new("RGB", size, WHITE)
    picture.paste(RED, (0, 0, width // 4, height // 3))
    picture.paste(GREEN, (width - width // 4, 0, width, height // 3))
    return picture


def corners(picture: Image.Image) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The colours at the centre of the top-left and top-right marker areas."""
    rgb = picture.convert("RGB")
    width, height = rgb.size
    return rgb.getpixel((width // 8, height // 6)), rgb.getpixel((width - width // 8, height // 6))  # type: ignore[return-value]


def layout(picture: Image.Image) -> list[str]:
    """Which marker each corner region shows (red, green, white, other): the orientation."""
    rgb = picture.convert("RGB")
    width, height = rgb.size
    points = [
        (width // 10, height // 10),
        (width - width // 10, height // 10),
        (width // 10, height - height // 10),
        (width - width // 10, height - height // 10),
    ]

    def name(colour: object) -> str:
        assert isinstance(colour, tuple)
        red, green, blue = colour[:3]
        if min(colour[:3]) > 200:
            return "white"
        if red > 150 and green < 100:
            return "red"
        if green > 90 and red < 100 and blue < 100:
            return "green"
        return "other"

    return [name(rgb.getpixel(point)) for point in points]


def near(found: tuple[int, ...], wanted: tuple[int, ...], tolerance: int = 40) -> bool:
    """Colours alike within a tolerance per channel (lossy thumbnails)."""
    return all(abs(a - b) <= tolerance for a, b in zip(found, wanted, strict=True))


def camera_exif(orientation: int = 1, *, gps: bool = True) -> Image.Exif:
    """EXIF as a phone writes it: orientation, date with offset, make and model, place."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010F] = "Apple"
    exif[0x0110] = "iPhone 15 Pro"
    sub = exif.get_ifd(0x8769)
    sub[0x9003] = TAKEN
    sub[0x9011] = "+02:00"
    if gps:
        place = exif.get_ifd(0x8825)
        place[1], place[2], place[3], place[4] = "N", PLACE[0], "E", PLACE[1]
    return exif


def oriented(path: Path, orientation: int, fmt: str = "JPEG", **exif_options: bool) -> Path:
    """The marked picture stored as a camera would for this orientation, tagged with it."""
    shown = marked()
    transform = DISPLAY.get(orientation)
    stored = shown if transform is None else shown.transpose(_INVERSE.get(transform, transform))
    if fmt == "HEIF":
        import pillow_heif

        pillow_heif.register_heif_opener()
    stored.save(path, fmt, exif=camera_exif(orientation, **exif_options).tobytes(), quality=90)
    return path


def photo_like(path: Path, size: str = "4032x3024", fmt: str = "JPEG") -> Path:
    """A photo-sized picture with detail and gentle noise (a Mandelbrot view), as JPEG/HEIC."""
    source = path.with_suffix(".src.png") if fmt != "JPEG" else path
    ffmpeg("-f", "lavfi", "-i", f"mandelbrot=s={size}:end_pts=1,format=rgb24,noise=alls=4:allf=t",
           "-frames:v", "1", "-q:v", "3", "-update", "1", str(source))  # fmt: skip
    if fmt != "JPEG":
        import pillow_heif

        pillow_heif.register_heif_opener()
        with Image.open(source) as picture:
            picture.save(path, fmt, quality=80)
        source.unlink()
    return path


# Display P3 (D65 white adapted to the ICC's D50), as its colorants: Apple's own profile values.
P3_COLORANTS = ((0.5151, 0.2412, -0.0011), (0.2920, 0.6922, 0.0419), (0.1571, 0.0666, 0.7841))
SRGB_COLORANTS = ((0.4361, 0.2225, 0.0139), (0.3851, 0.7169, 0.0971), (0.1431, 0.0606, 0.7141))
GAMMA = 2.2


def icc_profile(colorants: tuple[tuple[float, float, float], ...], name: str) -> bytes:
    """A minimal ICC v2 matrix/TRC display profile (gamma 2.2) with these RGB colorants."""

    def xyz(values: tuple[float, float, float]) -> bytes:
        return b"XYZ \0\0\0\0" + b"".join(struct.pack(">i", round(v * 65536)) for v in values)

    def text(value: str) -> bytes:
        raw = value.encode() + b"\0"
        return b"desc\0\0\0\0" + struct.pack(">I", len(raw)) + raw + b"\0" * 79

    curve = b"curv\0\0\0\0" + struct.pack(">IH", 1, round(GAMMA * 256)) + b"\0\0"
    tags = [(b"desc", text(name)), (b"wtpt", xyz((0.9642, 1.0, 0.8249))),
            (b"rXYZ", xyz(colorants[0])), (b"gXYZ", xyz(colorants[1])),
            (b"bXYZ", xyz(colorants[2])), (b"rTRC", curve), (b"gTRC", curve), (b"bTRC", curve),
            (b"cprt", b"text\0\0\0\0public domain\0\0\0")]  # fmt: skip
    offset = 128 + 4 + 12 * len(tags)
    table, data = b"", b""
    for signature, content in tags:
        padded = content + b"\0" * (-len(content) % 4)
        table += signature + struct.pack(">II", offset + len(data), len(padded))
        data += padded
    size = offset + len(data)
    header = struct.pack(">I4sI4s4s4s", size, b"none", 0x02100000, b"mntr", b"RGB ", b"XYZ ")
    header += b"\0" * 12 + b"acsp" + b"\0" * 24 + struct.pack(">iii", 63190, 65536, 54061)
    header += b"\0" * (128 - len(header))
    return header + struct.pack(">I", len(tags)) + table + data


def p3_to_srgb(rgb: tuple[int, int, int]) -> tuple[int, int, int]:
    """What a colour-managed viewer shows for a Display P3 (gamma 2.2) colour, in sRGB."""
    linear = [(c / 255) ** GAMMA for c in rgb]
    x, y, z = (sum(P3_COLORANTS[i][k] * linear[i] for i in range(3)) for k in range(3))
    # Solve SRGB_COLORANTS^T · out = (x, y, z) by Cramer's rule.
    m = [[SRGB_COLORANTS[i][k] for i in range(3)] for k in range(3)]

    def det(a: list[list[float]]) -> float:
        return (a[0][0] * (a[1][1] * a[2][2] - a[1][2] * a[2][1])
                - a[0][1] * (a[1][0] * a[2][2] - a[1][2] * a[2][0])
                + a[0][2] * (a[1][0] * a[2][1] - a[1][1] * a[2][0]))  # fmt: skip

    whole = det(m)
    out = []
    for column in range(3):
        swapped = [[(x, y, z)[r] if c == column else m[r][c] for c in range(3)] for r in range(3)]
        value = max(0.0, min(1.0, det(swapped) / whole))
        out.append(round(255 * value ** (1 / GAMMA)))
    return out[0], out[1], out[2]


def marked_clip(path: Path, *, rotate: int | None = None, tags: tuple[str, ...] = (),
                audio: bool = True, size: str = "320x192") -> Path:  # fmt: skip
    """An H.264 clip whose stored frames carry the markers; optionally a display rotation."""
    width, height = (int(v) for v in size.split("x"))
    boxes = (f"drawbox=x=0:y=0:w={width // 4}:h={height // 3}:color=red:t=fill,"
             f"drawbox=x={width - width // 4}:y=0:w={width // 4}:h={height // 3}"
             ":color=green:t=fill")  # fmt: skip
    plain = path.with_suffix(".plain.mp4")
    inputs = ["-f", "lavfi", "-i", f"color=c=white:s={size}:r=25:d=2,{boxes}"]
    if audio:
        inputs += ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=2",
                   "-c:a", "aac"]  # fmt: skip
    ffmpeg(*inputs, "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
           "-movflags", "+faststart", str(plain))  # fmt: skip
    metadata = [word for tag in tags for word in ("-metadata", tag)]
    if rotate is not None:
        metadata += ["-metadata:s:v:0", f"rotate={rotate}"]
    ffmpeg("-i", str(plain), "-c", "copy", *metadata, str(path))
    plain.unlink()
    return path


def pq_clip(path: Path, *, grey: str = "0x949494", size: str = "320x180") -> Path:
    """A 10-bit HDR10 (PQ, BT.2020) HEVC clip with mastering metadata: left half black."""
    width = int(size.partition("x")[0])
    ffmpeg(
        "-f", "lavfi", "-i", f"color=c={grey}:s={size}:r=25:d=1",
        "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=1",
        "-vf", f"drawbox=x=0:y=0:w={width // 2}:h=ih:color=black:t=fill,format=yuv420p10le",
        "-c:v", "libx265", "-preset", "ultrafast", "-tag:v", "hvc1",
        "-x265-params", "log-level=error:colorprim=bt2020:transfer=smpte2084:colormatrix=bt2020nc"
        ":hdr10=1:master-display=G(13250,34500)B(7500,3000)R(34000,16000)WP(15635,16450)"
        "L(10000000,1):max-cll=1000,400",
        "-color_primaries", "bt2020", "-color_trc", "smpte2084", "-colorspace", "bt2020nc",
        "-c:a", "aac", "-movflags", "+faststart", str(path),
    )  # fmt: skip
    return path


def displayed_frame(path: Path, out: Path) -> Image.Image:
    """The first frame as ffmpeg shows it (display matrix applied), as a picture."""
    ffmpeg("-i", str(path), "-frames:v", "1", "-update", "1", str(out))
    return Image.open(out)
