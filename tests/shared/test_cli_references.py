"""``webflow-functions sync`` over several files in dependency order, references by name with
``--create-missing``, and ``export`` whose output syncs back without a write."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bench.photos import encode, photo_pixels
from tests.conftest import Sandbox
from tests.create_items_support import list_items
from tests.items_support import RequestCounter
from webflow_cli.app import main


@pytest.fixture
def env(webflow_env: dict[str, str], sandbox: Sandbox) -> dict[str, str]:
    return webflow_env


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().out


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def by_name(sandbox: Sandbox, collection: str) -> dict[str, dict[str, Any]]:
    return {i["fieldData"]["name"]: i for i in list_items(sandbox, sandbox.collections[collection])}


def test_several_files_sync_referenced_collections_first_and_again_write_nothing(
    env: dict[str, str], sandbox: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    posts = write(
        tmp_path / "posts.csv",
        "name,summary,author,tags\n"
        'Engines,P-1,Ada Lovelace,"news, guides"\n'
        "Compilers,P-2,grace-hopper,releases\n",
    )
    authors = write(
        tmp_path / "authors.csv", "name,bio\nAda Lovelace,Analyst\nGrace Hopper,Admiral\n"
    )
    tags = write(tmp_path / "tags.csv", "name\nNews\nGuides\nReleases\n")
    # Given posts first: the order comes from the schemas, not the command line.
    code, out = run(capsys, "sync", str(posts), str(authors), str(tags), "--key", "name")
    assert code == 0, out
    assert out.index("authors.csv") < out.index("posts.csv")
    assert out.index("tags.csv") < out.index("posts.csv")
    people, labels = by_name(sandbox, "authors"), by_name(sandbox, "tags")
    engines = by_name(sandbox, "posts")["Engines"]["fieldData"]
    assert engines["author"] == people["Ada Lovelace"]["id"]
    assert engines["tags"] == [labels["News"]["id"], labels["Guides"]["id"]]

    counter = RequestCounter(sandbox)
    code, out = run(capsys, "sync", str(posts), str(authors), str(tags), "--key", "name")
    assert code == 0, out
    assert counter.writes() == 0


def test_create_missing_makes_the_referenced_items_a_row_names(
    env: dict[str, str], sandbox: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    posts = write(tmp_path / "p.csv", 'name,author,tags\nOne,New Person,"alpha, beta"\n')
    collection = sandbox.collections["posts"]
    code, out = run(capsys, "sync", str(posts), "--collection", collection, "--key", "name")
    assert code == 1
    assert "no item with slug or name 'New Person'" in out
    code, out = run(
        capsys, "sync", str(posts), "--collection", collection, "--key", "name", "--create-missing"
    )
    assert code == 0, out
    assert "created 3 referenced items" in out
    assert set(by_name(sandbox, "authors")) == {"New Person"}
    assert set(by_name(sandbox, "tags")) == {"alpha", "beta"}


@pytest.mark.parametrize("fmt", ["csv", "json", "jsonl"])
def test_export_then_sync_of_the_same_file_writes_nothing(
    fmt: str,
    env: dict[str, str],
    sandbox: Sandbox,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (tmp_path / "hero.png").write_bytes(encode(photo_pixels(16, 12), "PNG"))
    seed = write(
        tmp_path / "seed.csv",
        "name,summary,body,hero,featured,published-on,category,rating,author,tags\n"
        "Round trip,R-1,<p>Hello <strong>there</strong></p>,hero.png,true,"
        '2026-01-02T03:04:05.000Z,Guides,4.5,Ada,"x, y"\n'
        "Plain,R-2,,,false,,,,,\n",
    )
    collection = sandbox.collections["posts"]
    code, out = run(
        capsys,
        "sync",
        str(seed),
        "--collection",
        collection,
        "--key",
        "summary",
        "--create-missing",
    )
    assert code == 0, out

    exported = tmp_path / f"posts.{fmt}"
    code, _ = run(capsys, "export", collection, "--output", str(exported))
    assert code == 0
    text = exported.read_text(encoding="utf-8")
    assert "Guides" in text
    assert "ada" in text
    assert "/_assets/" in text
    if fmt == "json":
        rows = json.loads(text)
        assert {row["summary"] for row in rows} == {"R-1", "R-2"}
        assert next(r for r in rows if r["summary"] == "R-1")["tags"] == ["x", "y"]

    counter = RequestCounter(sandbox)
    code, out = run(capsys, "sync", str(exported), "--collection", collection, "--key", "summary")
    assert code == 0, out
    assert counter.writes() == 0, out


def test_export_downloads_files_and_writes_their_paths(
    env: dict[str, str], sandbox: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "hero.png").write_bytes(encode(photo_pixels(16, 12), "PNG"))
    seed = write(tmp_path / "s.csv", "name,summary,hero\nPictured,D-1,hero.png\n")
    collection = sandbox.collections["posts"]
    assert run(capsys, "sync", str(seed), "--collection", collection, "--key", "summary")[0] == 0
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    code, _ = run(
        capsys,
        "export",
        collection,
        "--output",
        str(out_dir / "posts.csv"),
        "--download",
        str(out_dir / "files"),
        "--allow-host",
        "127.0.0.1",  # the sandbox's asset host
    )
    assert code == 0
    text = (out_dir / "posts.csv").read_text(encoding="utf-8")
    [path] = [cell for cell in text.replace("\n", ",").split(",") if cell.startswith("files/")]
    assert (out_dir / path).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_email_link_and_image_round_trip_through_export(
    env: dict[str, str], sandbox: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "a.png").write_bytes(encode(photo_pixels(12, 8), "PNG"))
    seed = write(
        tmp_path / "s.csv",
        "name,email,message,attachment,source\n"
        "Ada,ada@example.com,Hello,a.png,https://example.com/from\n"
        "Grace,grace@example.com,Hi,,\n",
    )
    collection = sandbox.collections["submissions"]
    assert run(capsys, "sync", str(seed), "--collection", collection, "--key", "email")[0] == 0
    exported = tmp_path / "submissions.jsonl"
    assert run(capsys, "export", collection, "--output", str(exported))[0] == 0
    counter = RequestCounter(sandbox)
    code, out = run(capsys, "sync", str(exported), "--collection", collection, "--key", "email")
    assert code == 0, out
    assert counter.writes() == 0, out


def test_a_manifest_names_each_files_collection_and_key(
    env: dict[str, str], sandbox: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    write(data / "people.csv", "name,slug\nAda Lovelace,ada\n")
    write(data / "articles.csv", "name,summary,author\nNotes,N-1,Ada Lovelace\n")
    manifest = write(
        tmp_path / "sync.json",
        json.dumps(
            {
                "files": [
                    {"file": "data/articles.csv", "collection": "Posts", "key": "summary"},
                    {"file": "data/people.csv", "collection": "authors", "key": "slug"},
                ]
            }
        ),
    )
    code, out = run(capsys, "sync", "--manifest", str(manifest))
    assert code == 0, out
    assert out.index("people.csv") < out.index("articles.csv")
    notes = by_name(sandbox, "posts")["Notes"]["fieldData"]
    assert notes["author"] == by_name(sandbox, "authors")["Ada Lovelace"]["id"]

    broken = write(tmp_path / "broken.json", '{"files": [{"collection": "posts"}]}')
    assert run(capsys, "sync", "--manifest", str(broken))[0] == 2
