"""NLE bridges, installed as ``otio_heygen.adapters``.

- ``resolve``: the DaVinci Resolve bridge (``bridge.run_bridge``) and the script for Resolve's
  Workspace > Scripts menu (``otio_heygen_resolve.py``).
- ``premiere``: the Premiere Pro file route (OTIO on 25.6+, FCP7 XML before).
- ``otio_plugin`` + ``plugin_manifest.json``: the OTIO plugin (media linker ``otio_heygen_linker``),
  registered through the ``opentimelineio.plugins`` entry point.

This package imports nothing on purpose: OTIO loads it while building its plugin manifest.
"""
