"""Write a conformed timeline to disk, atomically, in the format of the output's extension.

Owns the output side of the file system: checking the output path before anything is spent,
media URLs the NLEs relink (``file://`` for OTIO, ``file://localhost/`` for FCP7 XML), and the
per-format write (``.otio`` with optional older schema versions, ``.otioz`` with media bundled,
``.xml`` FCP7 with a filled ``<format>`` block, ``.fcpxml`` when the adapter can write it).
Every write goes to a temporary file in the output's folder, is fsynced and then renamed over
the output, so a failure leaves any previous output untouched.
"""

from __future__ import annotations

import contextlib
import copy as _copy
import os
import re
import shutil
import tempfile
import urllib.parse
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Mapping
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any, Literal

import opentimelineio as otio

from otio_heygen.errors import OutputPathError
from otio_heygen.output.conform import GENERATED_KEY, is_generated_track
from otio_heygen.read.formats import guess_frame_size

__all__ = [
    "OUTPUT_SUFFIXES",
    "UrlStyle",
    "check_output_path",
    "check_schema_versions",
    "media_url",
    "supported_suffixes",
    "url_style_for",
    "write_timeline",
]

OUTPUT_SUFFIXES = (".otio", ".otioz", ".xml", ".fcpxml")
UrlStyle = Literal["otio", "fcp_xml"]

_ADAPTER_FOR = {".otio": "otio_json", ".otioz": "otioz", ".xml": "fcp_xml", ".fcpxml": "fcpx_xml"}


def _adapter_can_write(suffix: str) -> bool:
    name = _ADAPTER_FOR.get(suffix)
    if name is None:
        return False
    try:
        adapter = otio.adapters.from_name(name)
    except Exception:  # adapter plugin not installed
        return False
    return bool(adapter.has_feature("write_to_file") or adapter.has_feature("write_to_string"))


def supported_suffixes() -> tuple[str, ...]:
    """The output extensions this installation can write."""
    return tuple(s for s in OUTPUT_SUFFIXES if _adapter_can_write(s))


def _same_file(a: Path, b: Path) -> bool:
    try:
        if a.resolve() == b.resolve():
            return True
    except OSError:
        pass
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def check_output_path(output_path: Path, input_path: Path | None) -> None:
    """Refuse an unusable output before anything is spent (raises ``OutputPathError``, exit 2)."""
    output_path = Path(output_path)
    if output_path.is_dir():
        raise OutputPathError(
            f"The output '{output_path}' is a folder", hint="give a file name such as timeline_avatar.otio"
        )
    suffix = output_path.suffix.lower()
    if suffix not in OUTPUT_SUFFIXES:
        raise OutputPathError(
            f"Cannot write '{output_path.name}': unsupported extension '{output_path.suffix or '(none)'}'",
            hint=f"use one of {', '.join(supported_suffixes())}",
        )
    if not _adapter_can_write(suffix):
        raise OutputPathError(
            f"Cannot write '{output_path.name}': the installed OTIO adapter for {suffix} cannot write files",
            hint=f"use one of {', '.join(supported_suffixes())} (or install the adapter plugin)",
        )
    if input_path is not None and _same_file(output_path, Path(input_path)):
        raise OutputPathError(
            f"The output '{output_path}' is the input timeline; otio-heygen never overwrites its input",
            hint="choose another output file name with -o",
        )
    parent = output_path.parent if str(output_path.parent) else Path(".")
    if not parent.is_dir():
        raise OutputPathError(
            f"The output folder '{parent}' does not exist", hint="create it first or choose another -o path"
        )
    not_writable = OutputPathError(
        f"The output folder '{parent}' is not writable",
        hint="choose a folder you can write to, or fix its permissions",
    )
    if not os.access(parent, os.W_OK | os.X_OK):
        raise not_writable
    # os.access can say yes where writing fails (root, read-only mounts, ACLs): try for real.
    try:
        fd, probe = tempfile.mkstemp(prefix=".otio-heygen-probe-", dir=parent)
    except OSError as exc:
        raise not_writable from exc
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(probe)


def check_schema_versions(output_path: Path, schema_versions: str | None) -> None:
    """Refuse an older-schema request this output cannot take (before anything is spent)."""
    if not schema_versions:
        return
    if Path(output_path).suffix.lower() != ".otio":
        raise OutputPathError(
            f"Older schema versions can only be written to .otio, not '{Path(output_path).name}'",
            hint="use an .otio output or drop the schema version option",
        )
    try:
        otio.versioning.fetch_map("OTIO_CORE", schema_versions)
    except Exception as exc:
        version_map = otio.versioning.full_map()  # keep alive while reading it
        known = ", ".join(sorted(str(k) for k in version_map["OTIO_CORE"]))
        raise OutputPathError(
            f"Unknown OTIO schema version '{schema_versions}'", hint=f"use one of {known}"
        ) from exc


def url_style_for(output_path: Path) -> UrlStyle:
    """``"fcp_xml"`` for FCP7 XML outputs (Premiere's ``file://localhost/`` form), else ``"otio"``."""
    return "fcp_xml" if Path(output_path).suffix.lower() == ".xml" else "otio"


def _fcp_path_url(abs_path: str) -> str:
    """``file://localhost/`` + percent-encoded path; a Windows drive becomes ``D%3a`` as Premiere writes."""
    win = PureWindowsPath(abs_path)
    if win.drive and len(win.drive) == 2 and win.drive[1] == ":":
        rest = win.as_posix()[2:].lstrip("/")
        return f"file://localhost/{win.drive[0]}%3a/{urllib.parse.quote(rest, safe='/')}"
    posix = PurePosixPath(abs_path.replace("\\", "/")).as_posix().lstrip("/")
    return "file://localhost/" + urllib.parse.quote(posix, safe="/")


def media_url(
    media_path: Path,
    *,
    output_path: Path,
    relative: bool = False,
    style: UrlStyle = "otio",
) -> str:
    """The ``target_url`` an NLE relinks for ``media_path`` in a timeline written to ``output_path``.

    ``"otio"``: ``file:///abs/path`` (percent-encoded); with ``relative`` the path relative to the
    output's folder with forward slashes (not encoded). ``"fcp_xml"``: ``file://localhost/...``
    (relative paths are percent-encoded there too).
    """
    media_abs = Path(os.path.abspath(media_path))
    if relative:
        out_dir = Path(os.path.abspath(output_path)).parent
        try:
            rel = os.path.relpath(media_abs, out_dir)
        except ValueError:  # other drive on Windows: no relative path exists
            rel = None
        if rel is not None:
            rel_posix = rel.replace(os.sep, "/")
            return urllib.parse.quote(rel_posix, safe="/") if style == "fcp_xml" else rel_posix
    if style == "fcp_xml":
        return _fcp_path_url(str(media_abs))
    return media_abs.as_uri()


def _fsync_path(path: Path) -> None:
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())


def _fsync_dir(path: Path) -> None:
    if os.name != "posix":
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _local_file(url: str, base: Path) -> Path | None:
    """The existing local file a ``target_url`` points at (relative URLs against ``base``), or None."""
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme == "file":
        path = Path(otio.url_utils.filepath_from_url(url))
    elif not parsed.scheme or (len(parsed.scheme) == 1 and os.name == "nt"):
        for candidate in (url, urllib.parse.unquote(url)):
            path = Path(candidate)
            path = path if path.is_absolute() else base / path
            if path.is_file():
                return path
        return None
    else:
        return None
    return path if path.is_file() else None


def _is_relative_path_url(url: str) -> bool:
    if not url or urllib.parse.urlparse(url).scheme or re.match(r"^[A-Za-z]:[\\/]", url):
        return False
    return not Path(urllib.parse.unquote(url)).is_absolute() and not url.startswith(("/", "\\"))


def rebase_relative_media(timeline: otio.schema.Timeline, from_dir: Path, to_dir: Path) -> otio.schema.Timeline:
    """A copy whose relative media references (the input's, resolved against ``from_dir``) point at
    the same files from ``to_dir``, so a timeline written to another folder still relinks.

    Generated clips are left alone: their URLs were made for the output already.
    """
    copy: otio.schema.Timeline = timeline.deepcopy()
    if from_dir.resolve() == to_dir.resolve():
        return copy
    for clip in copy.find_clips():
        if GENERATED_KEY in clip.metadata:
            continue
        for ref in clip.media_references().values():
            url = getattr(ref, "target_url", None)
            if not isinstance(url, str) or not _is_relative_path_url(url):
                continue
            target, here = (from_dir / urllib.parse.unquote(url)).resolve(), to_dir.resolve()
            try:
                shared = Path(os.path.commonpath([target, here]))
            except ValueError:  # another drive on Windows: no relative path exists
                shared = Path(target.anchor)
            # stay relative when both live under one project folder; else an absolute path
            near = shared != Path(shared.anchor)
            ref.target_url = Path(os.path.relpath(target, here)).as_posix() if near else target.as_posix()
    return copy


def _write_otioz(timeline: otio.schema.Timeline, tmp: Path, base: Path) -> None:
    """An OTIOZ bundle (same layout as OTIO's adapter) holding every local media file.

    Unlike ``MediaReferencePolicy.MissingIfNotFile``, references whose file is not on this
    machine are kept as they were (the NLE can still relink them), and two different files
    with the same name are stored as ``name.mp4`` and ``name_2.mp4`` instead of failing.
    """
    utils = otio.adapters.file_bundle_utils
    copy: otio.schema.Timeline = timeline.deepcopy()
    stored: dict[Path, str] = {}
    used: set[str] = set()
    for clip in copy.find_clips():
        for ref in clip.media_references().values():
            url = getattr(ref, "target_url", None)
            src = _local_file(url, base) if url else None
            if src is None:
                continue
            src = src.resolve()
            if src not in stored:
                name, n = src.name, 1
                while name.lower() in used:
                    n += 1
                    name = f"{src.stem}_{n}{src.suffix}"
                used.add(name.lower())
                stored[src] = f"{utils.BUNDLE_DIR_NAME}/{name}"
            ref.target_url = otio.url_utils.url_from_filepath(stored[src])
    with zipfile.ZipFile(tmp, mode="w") as bundle:
        bundle.writestr(utils.BUNDLE_VERSION_FILE, utils.BUNDLE_VERSION, compress_type=zipfile.ZIP_DEFLATED)
        bundle.writestr(
            utils.BUNDLE_PLAYLIST_PATH,
            otio.adapters.write_to_string(copy, "otio_json"),
            compress_type=zipfile.ZIP_DEFLATED,
        )
        for src, dst in stored.items():
            bundle.write(src, dst, compress_type=zipfile.ZIP_STORED)


def _prepared_for_xml(timeline: otio.schema.Timeline) -> otio.schema.Timeline:
    """A copy ready for FCP7 XML: disabled tracks say so, our marker notes become ``<comment>``s,
    and the sequence carries a ``<format><samplecharacteristics>`` block (OTIO #839)."""
    copy: otio.schema.Timeline = timeline.deepcopy()
    for clip in copy.find_clips():
        ref = clip.media_reference
        if isinstance(ref, otio.schema.GeneratorReference) and "effecttype" not in (ref.metadata.get("fcp_xml") or {}):
            # otio-fcp-adapter 1.0 crashes on generators without FCP effect metadata (Resolve's solid
            # colours, titles...): describe them as FCP7 generator items so they survive as such.
            ref.metadata["fcp_xml"] = {"effecttype": "generator", "mediatype": "video", "effectcategory": "Matte"}
    for track in copy.tracks:
        if not isinstance(track, otio.schema.Track):
            continue
        if not track.enabled:
            track_md = dict(track.metadata.get("fcp_xml") or {})
            track_md.setdefault("enabled", "FALSE")
            track.metadata["fcp_xml"] = track_md
        if not is_generated_track(track):
            continue
        for clip in track.find_clips():
            for marker in clip.markers:
                marker_md = dict(marker.metadata.get("fcp_xml") or {})
                if marker.comment and "comment" not in marker_md:
                    marker_md["comment"] = marker.comment
                    marker.metadata["fcp_xml"] = marker_md
    return _with_xml_format(copy)


def _with_xml_format(copy: otio.schema.Timeline) -> otio.schema.Timeline:
    fcp = dict(copy.metadata.get("fcp_xml") or {})
    media = dict(fcp.get("media") or {})
    video = dict(media.get("video") or {})
    fmt = video.get("format")
    if isinstance(fmt, Mapping) and fmt.get("samplecharacteristics"):
        return copy
    width, height = guess_frame_size(copy) or (1920, 1080)
    rate = copy.global_start_time.rate if copy.global_start_time is not None else None
    if rate is None:
        rate = next((c.source_range.duration.rate for c in copy.find_clips() if c.source_range), 24.0)
    ntsc = abs(round(rate) - rate) > 1e-6
    video["format"] = {
        "samplecharacteristics": {
            "rate": {"timebase": str(round(rate)), "ntsc": "TRUE" if ntsc else "FALSE"},
            "width": str(width),
            "height": str(height),
            "anamorphic": "FALSE",
            "pixelaspectratio": "square",
            "fielddominance": "none",
        }
    }
    media["video"] = video
    fcp["media"] = media
    copy.metadata["fcp_xml"] = fcp
    return copy


def _ensure_xml_formats(path: Path, final_name: str) -> None:
    """Give every sequence (nested ones too) a filled ``<format>``; the adapter leaves nested ones empty."""
    tree = ET.parse(path)
    sequences = list(tree.getroot().iter("sequence"))
    filled = next(
        (
            fmt.find("samplecharacteristics")
            for seq in sequences
            if (fmt := seq.find("./media/video/format")) is not None and fmt.find("samplecharacteristics") is not None
        ),
        None,
    )
    if filled is None:
        raise OutputPathError(
            f"The FCP7 XML written for '{final_name}' has no <format> block; Resolve would ignore it",
            hint="write .otio instead",
        )
    changed = False
    for seq in sequences:
        video = seq.find("./media/video")
        if video is None:
            continue
        fmt = video.find("format")
        if fmt is None:
            fmt = ET.Element("format")
            video.insert(0, fmt)
        if fmt.find("samplecharacteristics") is None:
            fmt.append(_copy.deepcopy(filled))
            changed = True
    if changed:
        tree.write(path, encoding="UTF-8", xml_declaration=True)


def _write(
    timeline: otio.schema.Timeline,
    tmp: Path,
    suffix: str,
    schema_versions: str | None,
    base: Path,
    final_name: str,
) -> None:
    kwargs: dict[str, Any] = {}
    if suffix == ".otio":
        if schema_versions:
            kwargs["target_schema_versions"] = otio.versioning.fetch_map("OTIO_CORE", schema_versions)
        otio.adapters.write_to_file(timeline, str(tmp), adapter_name="otio_json", **kwargs)
    elif suffix == ".otioz":
        _write_otioz(timeline, tmp, base)
    elif suffix == ".xml":
        otio.adapters.write_to_file(timeline, str(tmp), adapter_name="fcp_xml")
        _ensure_xml_formats(tmp, final_name)
    else:
        otio.adapters.write_to_file(timeline, str(tmp), adapter_name=_ADAPTER_FOR[suffix])


def write_timeline(
    timeline: otio.schema.Timeline,
    output_path: Path,
    *,
    input_path: Path | None = None,
    schema_versions: str | None = None,
) -> None:
    """Write ``timeline`` to ``output_path`` atomically (temp file in the same folder, fsync, rename).

    ``schema_versions`` (e.g. ``"0.14.0"``) writes ``.otio`` with that OTIO release's schemas
    (``Clip.1``) for older Resolve/OTIO readers. Raises ``OutputPathError`` with a clear message.
    """
    output_path = Path(output_path)
    check_output_path(output_path, input_path)
    check_schema_versions(output_path, schema_versions)
    suffix = output_path.suffix.lower()
    parent = output_path.parent if str(output_path.parent) else Path(".")
    to_write = timeline
    if input_path is not None:
        to_write = rebase_relative_media(timeline, Path(input_path).parent, parent)
    if suffix == ".xml":
        to_write = _prepared_for_xml(to_write)

    try:
        tmp_dir = Path(tempfile.mkdtemp(prefix=f".{output_path.stem}.", suffix=".tmp", dir=parent))
    except OSError as exc:
        raise OutputPathError(
            f"Cannot write in the output folder '{parent}': {exc.strerror or exc}",
            hint="choose a folder you can write to",
        ) from exc
    tmp = tmp_dir / f"timeline{suffix}"
    try:
        try:
            _write(to_write, tmp, suffix, schema_versions, parent.resolve(), output_path.name)
            _fsync_path(tmp)
            os.replace(tmp, output_path)
        except OutputPathError:
            raise
        except OSError as exc:
            raise OutputPathError(
                f"Could not write '{output_path}': {exc.strerror or exc}",
                hint="check the folder's permissions and free space",
            ) from exc
        except Exception as exc:
            if suffix == ".fcpxml":
                raise OutputPathError(
                    f"The installed FCPXML adapter could not write '{output_path.name}' "
                    f"({type(exc).__name__}: {exc}); it is known to fail on NTSC rates such as 23.976",
                    hint="write .xml (FCP7 XML) or .otio instead; nothing was overwritten",
                ) from exc
            raise OutputPathError(
                f"Could not write '{output_path.name}': {type(exc).__name__}: {exc}",
                hint="the previous output (if any) was left unchanged",
            ) from exc
        with contextlib.suppress(OSError):
            _fsync_dir(parent)
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)
