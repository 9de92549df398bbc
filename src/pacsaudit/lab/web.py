"""The lab's web file shares: nginx serving the share tree as an open directory listing
(``autoindex``) and as a WebDAV folder (``dav_ext_methods PROPFIND OPTIONS``).

Both are the Debian ``nginx-light`` binary run unprivileged as LAB-NOTES describe it: ``daemon
off; master_process off;``, every path (pid, logs, temporary bodies) under the lab's folder,
``listen`` on one loopback address. The WebDAV server loads the ``dav-ext`` module
(``libnginx-mod-http-dav-ext``), which answers ``PROPFIND`` and ``OPTIONS``; no write method
is enabled (``dav_methods`` stays off), so the share is read-only like the others.
``disable_symlinks on`` makes the tree's symbolic link loop a folder that cannot be entered.

The same tree as FTP, SMB and rsync (:mod:`pacsaudit.lab.fileshare`), hence the same ground
truth: its files, its DICOM files by magic, PHI in sampled headers, the ransom-note stand-in.
"""

from __future__ import annotations

from pathlib import Path

from pacsaudit.lab.services import LAB_HOST, LabInfo, start_service
from pacsaudit.lab.table import lab_service

SERVICE_NAMES = ("web-listing", "webdav")
DAV_EXT_MODULE = Path("/usr/lib/nginx/modules/ngx_http_dav_ext_module.so")


def nginx_conf(folder: Path, tree: Path, port: int, *, dav: bool, host: str = LAB_HOST) -> Path:
    """An nginx configuration serving ``tree`` on ``host:port``, everything under ``folder``."""
    temp = folder / "temp"
    for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (temp / sub).mkdir(parents=True, exist_ok=True)
    location = "dav_ext_methods PROPFIND OPTIONS;" if dav else "autoindex on;"
    module = f"load_module {DAV_EXT_MODULE};\n" if dav else ""
    conf = folder / "nginx.conf"
    conf.write_text(
        f"""{module}daemon off;
master_process off;
pid {folder / "nginx.pid"};
error_log {folder / "error.log"} warn;
events {{ worker_connections 128; }}
http {{
    access_log off;
    client_body_temp_path {temp / "body"};
    proxy_temp_path {temp / "proxy"};
    fastcgi_temp_path {temp / "fastcgi"};
    uwsgi_temp_path {temp / "uwsgi"};
    scgi_temp_path {temp / "scgi"};
    types {{ text/html html; application/dicom dcm; }}
    default_type application/octet-stream;
    server {{
        listen {host}:{port};
        root {tree};
        disable_symlinks on;
        location / {{ {location} }}
    }}
}}
""",
        encoding="utf-8",
    )
    return conf


def nginx_argv(conf: Path) -> list[str]:
    return ["nginx", "-c", str(conf), "-p", str(conf.parent), "-e", str(conf.parent / "error.log")]


def start(info: LabInfo, ports: dict[str, int], tree: Path, truth: dict[str, int]) -> None:
    """Start both nginx servers on ``tree`` (called from the file-share lab's ``start``)."""
    expect = {
        "status": "http",
        "files": str(truth["files"]),
        "dicom_files": str(truth["dicom_files"]),
        "exposure_class": "phi-readable",
        "compromise": "yes",
    }
    base = info.state_dir / "web"
    for name in SERVICE_NAMES:
        service = lab_service(name, ports, expect)
        info.services.append(service)
        conf = nginx_conf(base / name, tree, ports[name], dav=name == "webdav")
        start_service(info, service, nginx_argv(conf), base / name)
