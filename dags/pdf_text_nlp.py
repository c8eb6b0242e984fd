"""pdf_text_nlp: an example downstream DAG, started by each ``pdf_to_text`` Asset event.

It reads the triggering event's manifest and analyses exactly the documents that run converted (not the
ones it skipped): word and sentence counts, top keywords and a language guess, written to
``<destination>/nlp/<name>.json``. Dependency-light on purpose (no model downloads): replace ``analyse``
with your own NLP and keep the rest.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import datetime
from typing import Any

from airflow.sdk import Asset, ObjectStoragePath, dag, task

from pdfco_provider.storage import write_json

PDF_TEXT = Asset(name="pdf_to_text", uri="x-pdfco://pdf_to_text/text")

#: A few of each language's most frequent words: enough to tell these languages apart in a page of text.
STOPWORDS = {
    "en": "the of and to in is that for it as was with be by on not he this are or his from at which but have an they you were",
    "de": "der die und in den von zu das mit sich des auf für ist im dem nicht ein eine als auch es an werden aus er hat",
    "fr": "de la le et les des en un du une que est pour qui dans par sur au plus pas ne il sont avec ce se",
    "es": "de la que el en y a los del se las por un para con no una su al lo como más pero sus le ya o",
    "it": "di e il la che in a per un del non è una sono le si con da gli al come più ma anche nel",
    "pt": "de a o que e do da em um para é com não uma os no se na por mais as dos como mas foi ao",
    "nl": "de en van het een in is dat op te zijn met voor niet aan er die maar om ook als dan bij",
    "ru": "и в не на я что он с как а то все она так его но да ты к у же вы за бы по только",
}
_WORD = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*", re.UNICODE)
_SENTENCE_END = re.compile(r"[.!?。！？]+(?:\s|$)")


def analyse(text: str, top: int = 10) -> dict[str, Any]:
    words = [word.lower() for word in _WORD.findall(text)]
    sets = {lang: set(words_.split()) for lang, words_ in STOPWORDS.items()}
    scores = {lang: sum(word in stop for word in words) for lang, stop in sets.items()}
    best = max(scores, key=lambda lang: scores[lang]) if words else None
    common = set().union(*sets.values())
    keywords = Counter(word for word in words if len(word) > 2 and word not in common)
    return {
        "words": len(words),
        "sentences": len(_SENTENCE_END.findall(text)) or (1 if words else 0),
        "characters": len(text),
        "language": best if best and scores[best] >= 3 else "unknown",
        "language_scores": scores,
        "keywords": [word for word, _ in keywords.most_common(top)],
    }


@dag(schedule=[PDF_TEXT], start_date=datetime(2026, 1, 1), catchup=False, tags=["pdfco", "nlp", "example"])
def pdf_text_nlp() -> None:
    @task(inlets=[PDF_TEXT])
    def new_documents(**context: Any) -> list[dict[str, str]]:
        """Documents converted by the run(s) that triggered this one; by hand: by the latest run."""
        events = list(context.get("triggering_asset_events", {}).get(PDF_TEXT, []))
        if not events:
            latest = context["inlet_events"][PDF_TEXT]
            events = [latest[-1]] if len(latest) else []
        documents = []
        for event in events:
            manifest = json.loads((ObjectStoragePath(event.extra["manifest"])).read_text())
            for document in manifest["documents"]:
                if document["status"] == "stored":
                    documents.append(
                        {
                            "name": document["name"],
                            "text_path": document["text_path"],
                            "job_id": document.get("job_id", ""),
                            "destination": manifest["destination"],
                        }
                    )
        print(f"{len(documents)} newly converted document(s) from {len(events)} event(s)")
        return documents

    @task(map_index_template="{{ document.name }}")
    def analyse_document(document: dict[str, str]) -> dict[str, Any]:
        """Idempotent: a text already analysed (same conversion job) is not analysed again, so a rerun's
        event (which lists everything the run converted) costs nothing for what was done before."""
        target = ObjectStoragePath(document["destination"]) / "nlp" / f"{document['name']}.json"
        if document["job_id"] and target.exists():
            previous = json.loads(target.read_text())
            if previous.get("job_id") == document["job_id"]:
                print(f"{document['name']}: already analysed for job {document['job_id']}")
                return {"name": document["name"], "output": str(target), "analysed": False}
        text = ObjectStoragePath(document["text_path"]).read_bytes().decode("utf-8", errors="replace")
        result = {"name": document["name"], "job_id": document["job_id"], "text_path": document["text_path"]}
        result.update(analyse(text))
        write_json(target, result)
        print(
            f"{document['name']}: {result['words']} words, {result['language']}, keywords {result['keywords'][:5]}"
        )
        return {"name": document["name"], "output": str(target), "analysed": True}

    analyse_document.expand(document=new_documents())


pdf_text_nlp()
