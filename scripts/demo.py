"""The main job: run the ``pdf_to_text`` DAG over sample documents against pdfco-local, then the NLP DAG.

Sets up a project-local Airflow (``var/airflow``, SQLite), generates sample documents into
``var/demo/source`` (PDF.co's own samples, multi-page, non-Latin, scanned, and one damaged file), starts
pdfco-local on a free port, runs both DAGs with ``airflow dags test``, prints what happened and stops the
server. Running it again skips everything already converted. No account and no network are needed.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VAR = ROOT / "var"
SOURCE = VAR / "demo" / "source"
DESTINATION = VAR / "demo" / "text"
LOGS = VAR / "demo" / "logs"
CORPUS = ROOT.parent / "shared" / "corpus" / "pdfco-samples"

sys.path.insert(0, str(ROOT / "tests"))


def airflow_env(home: Path = VAR / "airflow") -> dict[str, str]:
    """A project-local Airflow on SQLite with this project's DAGs and plugin (also used by ./run ui, bench)."""
    return {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "PDF_TO_TEXT_SOURCE": str(SOURCE),
        "PDF_TO_TEXT_DESTINATION": str(DESTINATION),
    }


def pdfco_connection(base_url: str, api_key: str) -> str:
    """``AIRFLOW_CONN_PDFCO_DEFAULT`` for a pdfco-local (or api.pdf.co) base URL and key."""
    return json.dumps({"conn_type": "pdfco", "host": base_url, "password": api_key})


def make_samples() -> None:
    """A small mixed folder; generated once, so a second run finds the same files."""
    if SOURCE.exists():
        return
    import pdfgen

    SOURCE.mkdir(parents=True)
    for sample in sorted(CORPUS.glob("*.pdf")):
        shutil.copy(sample, SOURCE / sample.name)
    pdfgen.multipage(SOURCE / "reports", pages=12, name="annual-report.pdf")
    pdfgen.multipage(SOURCE / "reports", pages=3, name="memo.pdf")
    pdfgen.non_latin(SOURCE, name="multilingual.pdf")
    pdfgen.image_only(SOURCE / "scans", name="scanned-letter.pdf")
    pdfgen.large_corpus(SOURCE / "books", files=2, pages_per_file=20)
    damaged = pdfgen.damaged(SOURCE)
    for name, path in damaged.items():
        if name != "truncated":
            path.unlink()
    (SOURCE / "damaged-truncated.pdf").rename(SOURCE / "broken-download.pdf")


def run(label: str, args: list[str], env: dict[str, str]) -> int:
    LOGS.mkdir(parents=True, exist_ok=True)
    log = LOGS / f"{label}.log"
    started = time.monotonic()
    with log.open("w") as handle:
        code = subprocess.run(
            [sys.executable, "-m", "airflow", *args], stdout=handle, stderr=subprocess.STDOUT, env=env
        ).returncode
    print(f"  {label}: exit {code} in {time.monotonic() - started:.1f} s (log: {log.relative_to(ROOT)})")
    return code


def summary(manifest_path: Path, seconds: float) -> None:
    manifest = json.loads(manifest_path.read_text())
    counts = manifest["counts"]
    print(f"\n{'document':<36} {'status':<9} {'pages':>5}  detail")
    for document in manifest["documents"]:
        detail = document.get("error") or document.get("reason") or document.get("text_path", "")
        print(f"{document['name']:<36} {document['status']:<9} {document.get('pages') or '':>5}  {detail}")
    print(
        f"\nconverted {counts['converted']}, skipped {counts['skipped']}, failed {counts['failed']} "
        f"of {counts['total']} document(s); {manifest['pages']} page(s), {manifest['credits']} credit(s); "
        f"{seconds:.1f} s"
    )
    print(f"text:     {DESTINATION}")
    print(f"manifest: {manifest_path}")
    nlp = DESTINATION / "nlp"
    if nlp.exists():
        print(f"NLP:      {nlp} ({sum(1 for _ in nlp.rglob('*.json'))} file(s))")


def main() -> int:
    from pdfco_local.config import ServerConfig
    from pdfco_local.runner import LocalServer

    env = airflow_env()
    make_samples()
    print(f"sample documents: {SOURCE}")
    print("setting up Airflow (var/airflow, SQLite)")
    if run("airflow-db-migrate", ["db", "migrate"], env) != 0:
        return 1
    key = secrets.token_urlsafe(18)
    config = ServerConfig(data_dir=VAR / "pdfco-local", api_keys={key: 1_000_000}, workers=2)
    started = time.monotonic()
    with LocalServer(config) as server:
        print(f"pdfco-local at {server.base_url}")
        env["AIRFLOW_CONN_PDFCO_DEFAULT"] = pdfco_connection(server.base_url, key)
        before = set((DESTINATION / "_manifests").glob("*.json"))
        print("running pdf_to_text")
        run(
            "pdf_to_text", ["dags", "test", "pdf_to_text"], env
        )  # a damaged document fails its batch: expected
        manifests = sorted(
            set((DESTINATION / "_manifests").glob("*.json")) - before, key=lambda p: p.stat().st_mtime
        )
        if not manifests:
            print("pdf_to_text wrote no manifest: see the log above", file=sys.stderr)
            return 1
        print("running pdf_text_nlp")
        run("pdf_text_nlp", ["dags", "test", "pdf_text_nlp"], env)
    summary(manifests[-1], time.monotonic() - started)
    return 0


if __name__ == "__main__":
    sys.exit(main())
