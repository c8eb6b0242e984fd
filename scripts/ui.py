"""Explore the pipeline in the Airflow UI: pdfco-local plus ``airflow standalone`` on the demo's folders.

Uses the same project-local Airflow home, DAGs, plugins and sample folders as ``./run demo``; starts
pdfco-local on ``--pdfco-port`` (default 8090) and ``airflow standalone`` (scheduler, dag-processor,
triggerer, api-server with the UI on http://localhost:8080; it prints the admin password). Ctrl-C stops both.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from demo import VAR, airflow_env, make_samples, pdfco_connection

from pdfco_local.runner import ServerProcess


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pdfco-port", type=int, default=8090)
    args = parser.parse_args()
    make_samples()
    env = airflow_env()
    # standalone starts its components as "airflow ..." commands: make this environment's the one found.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    with ServerProcess(VAR / "pdfco-local", "--workers", "2", port=args.pdfco_port) as server:
        print(f"pdfco-local at {server.base_url}; pdf_to_text reads {env['PDF_TO_TEXT_SOURCE']}")
        env["AIRFLOW_CONN_PDFCO_DEFAULT"] = pdfco_connection(server.base_url, server.api_key)
        try:
            return subprocess.run([sys.executable, "-m", "airflow", "standalone"], env=env).returncode
        except KeyboardInterrupt:
            return 0


if __name__ == "__main__":
    sys.exit(main())
