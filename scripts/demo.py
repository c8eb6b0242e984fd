"""The main job until the ``pdf_to_text`` DAG exists: pdfco-local converts PDF.co's sample documents.

Starts pdfco-local on a free port, runs PDF.co's documented flow (presigned URL, PUT, async convert,
job/check, download) over ``../shared/corpus/pdfco-samples/*.pdf``, writes the text to ``var/demo/text/`` and
prints a summary. No account and no network are needed.
"""

from __future__ import annotations

import secrets
import sys
import time
from pathlib import Path

import requests

from pdfco_local.config import ServerConfig
from pdfco_local.runner import LocalServer

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus" / "pdfco-samples"
OUT = ROOT / "var" / "demo"


def convert(session: requests.Session, base: str, source: Path) -> tuple[str, dict[str, object]]:
    presign = session.get(f"{base}/v1/file/upload/get-presigned-url", params={"name": source.name}).json()
    with source.open("rb") as handle:
        session.put(presign["presignedUrl"], data=handle).raise_for_status()
    job = session.post(f"{base}/v1/pdf/convert/to/text", json={"url": presign["url"], "async": True}).json()
    if job["error"]:
        raise RuntimeError(f"{source.name}: {job['message']}")
    while (state := session.get(f"{base}/v1/job/check", params={"jobid": job["jobId"]}).json())[
        "status"
    ] == "working":
        time.sleep(0.2)
    if state["status"] != "success":
        raise RuntimeError(f"{source.name}: {state['message']}")
    return session.get(state["url"]).content.decode("utf-8"), state


def main() -> int:
    sources = sorted(CORPUS.glob("*.pdf"))
    if not sources:
        print(f"no sample PDFs in {CORPUS}", file=sys.stderr)
        return 1
    key = secrets.token_urlsafe(16)
    (OUT / "text").mkdir(parents=True, exist_ok=True)
    config = ServerConfig(data_dir=OUT / "pdfco-local", api_keys={key: 1000}, workers=2)
    with LocalServer(config) as server:
        print(f"pdfco-local at {server.base_url}")
        session = requests.Session()
        session.headers["x-api-key"] = key
        print(f"{'document':<24} {'pages':>5} {'chars':>6} {'seconds':>8}  text")
        for source in sources:
            started = time.monotonic()
            text, state = convert(session, server.base_url, source)
            target = OUT / "text" / f"{source.stem}.txt"
            target.write_bytes(text.encode("utf-8"))
            elapsed = time.monotonic() - started
            print(f"{source.name:<24} {state['pageCount']:>5} {len(text):>6} {elapsed:>8.2f}  {target}")
        print(f"remaining credits: {state['remainingCredits']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
