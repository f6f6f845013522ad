"""Write a conformed timeline to disk, atomically, in the format of the output's extension.

Owns the output side of the file system: checking the output path before anything is spent,
the media links of each format (absolute ``file://`` URLs in ``.otio`` unless ``--relative-paths``,
then every local link relative to the output; FCP7 XML specifics live in ``output/fcp7.py``),
and the per-format write (``.otio`` and ``.otioz`` with the schema versions chosen by
``output/otio_versions.py``, ``.otioz`` with media bundled, ``.xml`` FCP7, ``.fcpxml`` when the
adapter can write it). Every write goes to a temporary file in the output's folder, is fsynced and
then renamed over the output, so a failure leaves any previous output untouched.
"""

from __future__ import annotations

import contextlib
import os
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import opentimelineio as otio

from otio_heygen.errors import OutputPathError
from otio_heygen.fsutil import create_temp_beside, create_temp_dir_beside, discard_temp
from otio_heygen.output.conform import GENERATED_KEY
from otio_heygen.output.fcp7 import finish_xml, prepare_for_xml
from otio_heygen.output.otio_versions import check_release, input_schema_versions, target_schema_versions
from otio_heygen.urls import fcp_path_url, file_url, is_relative_reference, relative_url, resolve_reference, url_to_path

__all__ = [
    "OUTPUT_SUFFIXES",
    "UrlStyle",
    "check_output_path",
    "check_schema_versions",
    "media_url",
    "relink_media",
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
        probe = create_temp_beside(parent / output_path.name, ".probe")
    except OSError as exc:
        raise not_writable from exc
    discard_temp(probe)


def check_schema_versions(output_path: Path, schema_versions: str | None) -> None:
    """Refuse an ``--otio-version`` this output cannot take (before anything is spent)."""
    check_release(output_path, schema_versions)


def url_style_for(output_path: Path) -> UrlStyle:
    """``"fcp_xml"`` for FCP7 XML outputs (Premiere's ``file://localhost/`` form), else ``"otio"``."""
    return "fcp_xml" if Path(output_path).suffix.lower() == ".xml" else "otio"


def media_url(
    media_path: Path,
    *,
    output_path: Path,
    relative: bool = False,
    style: UrlStyle = "otio",
) -> str:
    """The ``target_url`` an NLE relinks for ``media_path`` in a timeline written to ``output_path``.

    ``"otio"``: ``file:///abs/path`` (percent-encoded); with ``relative`` the path relative to the
    output's folder with forward slashes (not encoded). ``"fcp_xml"``: always an absolute
    ``file://localhost/...`` URL (Premiere cannot follow relative ``<pathurl>``s).
    """
    if style == "fcp_xml":
        return fcp_path_url(Path(os.path.abspath(media_path)))
    if relative:
        rel = relative_url(media_path, Path(os.path.abspath(output_path)).parent)
        if rel is not None:
            return rel
    return file_url(media_path)


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


def relink_media(
    timeline: otio.schema.Timeline, *, input_dir: Path | None, out_dir: Path, relative: bool
) -> otio.schema.Timeline:
    """A copy whose local media links all take one form for an ``.otio``/``.otioz`` at ``out_dir``:
    absolute ``file://`` URLs, or with ``relative`` paths relative to ``out_dir`` (forward slashes).

    The input's relative links are resolved against ``input_dir``, generated clips' against
    ``out_dir`` (they were made for the output). Other schemes (``http:``...) stay as they were.
    """
    copy: otio.schema.Timeline = timeline.deepcopy()
    for clip in copy.find_clips():
        base = out_dir if GENERATED_KEY in clip.metadata or input_dir is None else input_dir
        for ref in clip.media_references().values():
            url = getattr(ref, "target_url", None)
            if not isinstance(url, str) or not url.strip():
                continue
            if not is_relative_reference(url) and not url.lower().startswith("file:") and not os.path.isabs(url):
                continue  # http:, s3:..., or a Windows path on another system
            found = resolve_reference(url, base)
            path = found if found is not None else url_to_path(url, base)
            if not isinstance(path, Path) or not path.is_absolute():
                continue
            rel = relative_url(path, out_dir) if relative else None
            ref.target_url = rel if rel is not None else file_url(path)
    return copy


def _write_otioz(timeline: otio.schema.Timeline, tmp: Path, base: Path, versions: Mapping[str, int] | None) -> None:
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
            src = resolve_reference(url, base) if url else None
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
            _otio_json(copy, versions),
            compress_type=zipfile.ZIP_DEFLATED,
        )
        for src, dst in stored.items():
            bundle.write(src, dst, compress_type=zipfile.ZIP_STORED)


def _otio_json(timeline: otio.schema.Timeline, versions: Mapping[str, int] | None) -> str:
    kwargs: dict[str, Any] = {"target_schema_versions": dict(versions)} if versions else {}
    return str(otio.adapters.write_to_string(timeline, "otio_json", **kwargs))


def _write(
    timeline: otio.schema.Timeline,
    tmp: Path,
    suffix: str,
    versions: Mapping[str, int] | None,
    base: Path,
    final_name: str,
) -> None:
    if suffix == ".otio":
        kwargs: dict[str, Any] = {"target_schema_versions": dict(versions)} if versions else {}
        otio.adapters.write_to_file(timeline, str(tmp), adapter_name="otio_json", **kwargs)
    elif suffix == ".otioz":
        _write_otioz(timeline, tmp, base, versions)
    elif suffix == ".xml":
        otio.adapters.write_to_file(timeline, str(tmp), adapter_name="fcp_xml")
        finish_xml(tmp, final_name)
    else:
        otio.adapters.write_to_file(timeline, str(tmp), adapter_name=_ADAPTER_FOR[suffix])


def write_timeline(
    timeline: otio.schema.Timeline,
    output_path: Path,
    *,
    input_path: Path | None = None,
    schema_versions: str | None = None,
    relative_paths: bool = False,
) -> None:
    """Write ``timeline`` to ``output_path`` atomically (temp file in the same folder, fsync, rename).

    ``.otio``/``.otioz`` use no newer schema than the ``.otio`` input used, or the release
    ``schema_versions`` names (``"0.14.0"`` gives ``Clip.1``). Local media links are absolute
    (``relative_paths``: relative to the output, ``.otio`` only); FCP7 XML always gets absolute
    ``file://localhost/`` URLs. Raises ``OutputPathError`` with a clear message.
    """
    output_path = Path(output_path)
    check_output_path(output_path, input_path)
    check_schema_versions(output_path, schema_versions)
    suffix = output_path.suffix.lower()
    parent = output_path.parent if str(output_path.parent) else Path(".")
    input_dir = Path(input_path).resolve().parent if input_path is not None else None
    if suffix == ".xml":
        name = Path(input_path).stem if input_path is not None else output_path.stem
        to_write = prepare_for_xml(timeline, base=input_dir or parent.resolve(), name=name)
    else:
        to_write = relink_media(timeline, input_dir=input_dir, out_dir=parent.resolve(), relative=relative_paths)
    versions = target_schema_versions(
        output_path, requested=schema_versions,
        input_versions=input_schema_versions(Path(input_path)) if input_path is not None else None,
    )

    try:
        tmp_dir = create_temp_dir_beside(parent / output_path.name, ".tmp")
    except OSError as exc:
        raise OutputPathError(
            f"Cannot write in the output folder '{parent}': {exc.strerror or exc}",
            hint="choose a folder you can write to",
        ) from exc
    tmp = tmp_dir / f"timeline{suffix}"
    try:
        try:
            _write(to_write, tmp, suffix, versions, parent.resolve(), output_path.name)
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
        discard_temp(tmp_dir)
