"""``pdfco-local serve``: run the server in the foreground until SIGTERM or Ctrl-C.

Every option also reads an environment variable (``PDFCO_LOCAL_<OPTION>``), which is how the compose file
configures it. With no ``--api-key``, a key is generated and printed, so a first run needs no setup.
"""

from __future__ import annotations

import argparse
import logging
import os
import secrets
import signal
import sys
from pathlib import Path
from types import FrameType

from .config import DEFAULT_CREDITS, ServerConfig
from .faults import FaultConfig
from .runner import bind, uvicorn_server


def _env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(f"PDFCO_LOCAL_{name.upper()}", default)


def _keys(values: list[str]) -> dict[str, int]:
    """``KEY`` or ``KEY:CREDITS``."""
    keys: dict[str, int] = {}
    for value in values:
        key, _, credits = value.partition(":")
        keys[key] = int(credits) if credits else DEFAULT_CREDITS
    return keys


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="pdfco-local", description=__doc__)
    commands = top.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the PDF.co-compatible server")
    serve.add_argument("--host", default=_env("host", "127.0.0.1"), help="bind address (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=int(_env("port", "8090") or 0), help="0 = any free port")
    serve.add_argument("--data-dir", type=Path, default=Path(_env("data_dir", "./var/pdfco-local") or "."))
    serve.add_argument(
        "--api-key",
        action="append",
        default=None,
        help="accepted key, KEY or KEY:CREDITS; repeatable (env PDFCO_LOCAL_API_KEYS, comma-separated)",
    )
    serve.add_argument("--public-url", default=_env("public_url"), help="base URL written into file links")
    serve.add_argument("--workers", type=int, default=int(_env("workers", str(os.cpu_count() or 2)) or 2))
    serve.add_argument("--job-time-limit", type=float, default=float(_env("job_time_limit", "300") or 300))
    serve.add_argument(
        "--job-memory-limit-mb", type=int, default=int(_env("job_memory_limit_mb", "1024") or 0)
    )
    serve.add_argument("--sync-timeout", type=float, default=float(_env("sync_timeout", "30") or 30))
    serve.add_argument(
        "--rate-limit", type=float, default=float(_env("rate_limit", "0") or 0), help="req/s per key"
    )
    serve.add_argument("--max-upload-mb", type=int, default=int(_env("max_upload_mb", "2048") or 2048))
    serve.add_argument(
        "--upload-ttl", type=float, default=float(_env("upload_ttl", "3600") or 3600), help="seconds"
    )
    serve.add_argument("--sweep-interval", type=float, default=float(_env("sweep_interval", "30") or 30))
    serve.add_argument("--tesseract", default=_env("tesseract", "tesseract"), help="OCR executable")
    faults = serve.add_argument_group("fault injection (off unless set; see docs/pdfco-local.md)")
    faults.add_argument("--fault-seed", type=int, default=int(_env("fault_seed", "0") or 0))
    faults.add_argument("--fault-error-rate", type=float, default=float(_env("fault_error_rate", "0") or 0))
    faults.add_argument(
        "--fault-throttle-rate", type=float, default=float(_env("fault_throttle_rate", "0") or 0)
    )
    faults.add_argument("--fault-drop-rate", type=float, default=float(_env("fault_drop_rate", "0") or 0))
    faults.add_argument("--fault-latency", type=float, default=float(_env("fault_latency", "0") or 0))
    faults.add_argument(
        "--fault-latency-rate", type=float, default=float(_env("fault_latency_rate", "0") or 0)
    )
    faults.add_argument(
        "--fault-job-fail-rate", type=float, default=float(_env("fault_job_fail_rate", "0") or 0)
    )
    serve.add_argument("--log-level", default=_env("log_level", "info"))
    return top


def config_from(args: argparse.Namespace) -> tuple[ServerConfig, bool]:
    """Build the config; the flag says whether the key was generated (and may therefore be printed)."""
    values = args.api_key or [v for v in (_env("api_keys") or "").split(",") if v]
    generated = not values
    if generated:
        values = [secrets.token_urlsafe(24)]
    config = ServerConfig(
        data_dir=args.data_dir,
        api_keys=_keys(values),
        rate_limit=args.rate_limit,
        max_upload_bytes=args.max_upload_mb * 1024**2,
        upload_ttl=args.upload_ttl,
        workers=args.workers,
        job_time_limit=args.job_time_limit,
        job_memory_limit=args.job_memory_limit_mb * 1024**2,
        sync_timeout=args.sync_timeout,
        sweep_interval=args.sweep_interval,
        tesseract_cmd=args.tesseract,
        public_url=args.public_url,
        faults=FaultConfig(
            seed=args.fault_seed,
            error_rate=args.fault_error_rate,
            throttle_rate=args.fault_throttle_rate,
            drop_rate=args.fault_drop_rate,
            latency=args.fault_latency,
            latency_rate=args.fault_latency_rate,
            job_fail_rate=args.fault_job_fail_rate,
        ),
    )
    return config, generated


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), stream=sys.stderr, format="%(asctime)s %(name)s %(message)s"
    )
    config, generated = config_from(args)
    from .app import PdfCoLocal  # imported late: --help must not need the server's dependencies

    app = PdfCoLocal(config)
    sock = bind(args.host, args.port)
    host, port = sock.getsockname()[:2]
    shown_host = f"[{host}]" if ":" in host else host
    key = next(iter(config.api_keys))
    shown_key = key if generated else key[:4] + "…"
    # One line, flushed, so a parent process can read the URL when it asked for port 0.
    print(f"pdfco-local listening on http://{shown_host}:{port} api-key={shown_key}", flush=True)
    if config.faults.enabled:
        print(f"pdfco-local fault injection ON: {config.faults}", flush=True)
    # uvicorn shuts down gracefully on SIGTERM/SIGINT, then re-raises the signal with the handler found
    # before it started: make that handler a clean exit, so a stopped server exits 0 (compose, systemd).
    for handled in (signal.SIGTERM, signal.SIGINT):
        signal.signal(handled, _exit_cleanly)
    uvicorn_server(app, args.log_level.lower()).run(sockets=[sock])
    return 0


def _exit_cleanly(_signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(0)


if __name__ == "__main__":
    sys.exit(main())
