"""Acceptance (issue 4): the pdf_to_text DAG over ~20 generated documents, reruns, and the NLP DAG."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

import pytest

import pdfgen
from conftest import CORPUS, ServerFactory
from pdfco_local.extract import ExtractRequest, extract

PASSWORD = "s3cret"


def _sources(root: Path) -> dict[str, Path]:
    """20 documents of several kinds; the two bad ones sort last (the same, last batch of 5)."""
    docs: dict[str, Path] = {}
    for index in range(7):
        generated = pdfgen.multipage(root / "reports", pages=1 + index, name=f"report-{index}.pdf")
        docs[f"reports/report-{index}"] = generated.path
    for generated in pdfgen.large_corpus(root / "books", files=4, pages_per_file=3):
        docs[f"books/{generated.path.stem}"] = generated.path
    docs["multilingual"] = pdfgen.non_latin(root, name="multilingual.pdf").path
    docs["rotated"] = pdfgen.rotated(root, 90, name="rotated.pdf").path
    docs["mixed-scan"] = pdfgen.mixed(root, name="mixed-scan.pdf").path
    for sample in ("sample.pdf", "sample-rotated.pdf"):
        shutil.copy(CORPUS / sample, root / sample)
        docs[sample[:-4]] = root / sample
    docs["locked-rc4"] = pdfgen.encrypted(root, PASSWORD, method="rc4-128", name="locked-rc4.pdf").path
    docs["locked-aes"] = pdfgen.encrypted(root, PASSWORD, method="aes-256", name="locked-aes.pdf").path
    docs["zz-wrong-password"] = pdfgen.encrypted(root, "another", name="zz-wrong-password.pdf").path
    damaged = pdfgen.damaged(root / "tmp")
    docs["zz-broken"] = damaged["truncated"].rename(root / "zz-broken.pdf")
    shutil.rmtree(root / "tmp")
    return docs


def _manifest(destination: Path, before: set[Path]) -> dict[str, Any]:
    new = sorted(set((destination / "_manifests").glob("*.json")) - before, key=lambda p: p.stat().st_mtime)
    assert new, "the report step wrote no manifest"
    data: dict[str, Any] = json.loads(new[-1].read_text())
    return data


def _by_status(manifest: dict[str, Any]) -> dict[str, set[str]]:
    result: dict[str, set[str]] = {}
    for document in manifest["documents"]:
        result.setdefault(document["status"], set()).add(document["name"])
    return result


def _nlp_outputs(destination: Path) -> dict[str, float]:
    return {
        str(path.relative_to(destination / "nlp"))[:-5]: path.stat().st_mtime_ns
        for path in (destination / "nlp").rglob("*.json")
    }


@pytest.mark.slow
def test_pdf_to_text_converts_reruns_and_feeds_the_nlp_dag(
    server_factory: ServerFactory, pdfco_connection: Any, run_dag: Any, tmp_path: Path
) -> None:
    server = server_factory(workers=2)
    pdfco_connection(server)
    source, destination = tmp_path / "source", tmp_path / "text"
    docs = _sources(source)
    assert len(docs) == 20
    bad = {"zz-wrong-password", "zz-broken"}
    good = set(docs) - bad
    params = {"source": str(source), "destination": str(destination), "password": PASSWORD, "batch_size": 5}

    # First run: everything converts except the two bad documents, which are listed with PDF.co's messages.
    run = run_dag("pdf_to_text", **params)
    states = {(ti.task_id, ti.map_index): ti.state for ti in run.get_task_instances()}
    manifest = _manifest(destination, set())
    assert _by_status(manifest) == {"stored": good, "failed": bad}
    errors = {d["name"]: d for d in manifest["documents"] if d["status"] == "failed"}
    assert errors["zz-wrong-password"]["error_code"] == 441
    assert "password" in errors["zz-wrong-password"]["error"].lower()
    assert errors["zz-broken"]["error_code"] == 442
    assert "damaged" in errors["zz-broken"]["error"].lower()
    assert manifest["counts"] == {"converted": 18, "skipped": 0, "failed": 2, "total": 20}
    # The batch holding the bad documents fails at its store step; every other batch succeeds.
    stores = {index: state for (task, index), state in states.items() if task == "convert.store"}
    assert len(stores) == 4
    assert [index for index, state in stores.items() if state != "success"] == [3]
    assert states[("report", -1)] == "success"

    # The text is exactly what the extraction engine gives for the same document.
    for name in good:
        expected = tmp_path / "expected.txt"
        extract(ExtractRequest(str(docs[name]), str(expected), password=PASSWORD))
        assert (destination / f"{name}.txt").read_bytes() == expected.read_bytes(), name
        sidecar = json.loads((destination / f"{name}.json").read_text())
        assert sidecar["job_id"]
        assert sidecar["fingerprint"]

    # The NLP DAG picks up the run's Asset event and analyses exactly the converted documents.
    run_dag("pdf_text_nlp")
    first_nlp = _nlp_outputs(destination)
    assert set(first_nlp) == good
    analysis = json.loads((destination / "nlp" / "sample.json").read_text())
    assert analysis["words"] > 20
    assert "invoice" in analysis["keywords"]

    # Second run: nothing to convert; the converted documents are skipped, the bad ones fail again.
    before = set((destination / "_manifests").glob("*.json"))
    run_dag("pdf_to_text", **params)
    second = _manifest(destination, before)
    assert second["counts"] == {"converted": 0, "skipped": 18, "failed": 2, "total": 20}
    run_dag("pdf_text_nlp")
    assert _nlp_outputs(destination) == first_nlp, "nothing new: no document analysed again"

    # Touching one source converts exactly that one again, and only it is analysed again.
    touched = docs["reports/report-3"]
    later = time.time() + 5
    os.utime(touched, (later, later))
    before = set((destination / "_manifests").glob("*.json"))
    run_dag("pdf_to_text", **params)
    third = _manifest(destination, before)
    assert _by_status(third) == {
        "stored": {"reports/report-3"},
        "skipped": good - {"reports/report-3"},
        "failed": bad,
    }
    run_dag("pdf_text_nlp")
    changed = {name for name, mtime in _nlp_outputs(destination).items() if first_nlp.get(name) != mtime}
    assert changed == {"reports/report-3"}


def test_the_example_analysis_guesses_languages_and_keywords() -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "pdf_text_nlp", Path(__file__).parents[1] / "dags" / "pdf_text_nlp.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    english = module.analyse(
        "The invoice is due in the month of May. It was sent to the client with the report."
    )
    assert english["language"] == "en"
    assert english["sentences"] == 2
    assert english["keywords"][:2] == ["invoice", "due"]
    german = module.analyse(
        "Die Rechnung ist im Mai fällig. Sie wurde mit dem Bericht an den Kunden geschickt."
    )
    assert german["language"] == "de"
    russian = module.analyse("Счёт был отправлен клиенту, и он не ответил. Но это так, как и все.")  # noqa: RUF001
    assert russian["language"] == "ru"
    assert module.analyse("")["language"] == "unknown"
