"""``webflow-functions sync`` and ``schema`` against the sandbox: files in, items and assets out,
resumable, with the rows at fault named."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bench.photos import encode, photo_pixels
from tests.conftest import Sandbox
from tests.create_items_support import list_items
from tests.items_support import RequestCounter
from tests.support import REPO_ROOT
from webflow_cli.app import main


@pytest.fixture
def env(webflow_env: dict[str, str], sandbox: Sandbox) -> dict[str, str]:
    """The command's environment: the sandbox, its site (for assets)."""
    return webflow_env


@pytest.fixture
def posts(sandbox: Sandbox) -> str:
    return sandbox.collections["posts"]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def by_summary(sandbox: Sandbox, collection: str) -> dict[str, dict[str, Any]]:
    return {i["fieldData"].get("summary"): i for i in list_items(sandbox, collection)}


def test_a_csv_by_display_names_with_a_photo_column_syncs_and_reruns_as_a_no_op(
    env: dict[str, str],
    sandbox: Sandbox,
    posts: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (tmp_path / "teapot.png").write_bytes(encode(photo_pixels(40, 30), "PNG"))
    catalogue = write(
        tmp_path / "catalogue.csv",
        "Name,Summary,Rating,Hero\nTeapot,SKU-1,4.5,teapot.png\nKettle,SKU-2,3,\n",
    )

    code, out, err = run(capsys, "sync", str(catalogue), "--collection", posts, "--key", "summary")

    assert code == 0, out + err
    assert "created" in out
    assert "reading the collection" in err
    stored = by_summary(sandbox, posts)
    assert stored["SKU-1"]["fieldData"]["rating"] == 4.5
    hero = stored["SKU-1"]["fieldData"]["hero"]
    assert hero["fileId"]
    assert hero["url"]
    assert re.search(r"assets uploaded\s+1\n", out)

    counter = RequestCounter(sandbox)
    code, out, _err = run(capsys, "sync", str(catalogue), "--collection", posts, "--key", "summary")
    assert code == 0
    assert counter.writes() == 0  # nothing created, patched or uploaded again
    assert re.search(r"unchanged\s+2\n", out)
    assert re.search(r"assets reused\s+1\n", out)
    assert re.search(r"assets uploaded\s+0\n", out)


def test_json_and_json_lines_and_an_explicit_map(
    env: dict[str, str],
    sandbox: Sandbox,
    posts: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    array = write(tmp_path / "a.json", json.dumps([{"title": "From JSON", "sku": "J-1"}]))
    lines = write(tmp_path / "b.jsonl", '{"title": "From lines", "sku": "L-1"}\n\n')
    mapping = '{"title": "name", "sku": "summary"}'
    for path in (array, lines):
        code, out, err = run(
            capsys, "sync", str(path), "--collection", posts, "--key", "summary", "--map", mapping
        )
        assert code == 0, out + err
    assert {"J-1", "L-1"} <= set(by_summary(sandbox, posts))


def test_a_row_with_a_bad_value_is_named_by_row_and_column_and_the_others_applied(
    env: dict[str, str],
    sandbox: Sandbox,
    posts: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = write(tmp_path / "c.csv", "Name,Summary,Rating\nGood,G-1,1\nBad,B-1,many\n")
    code, out, _err = run(capsys, "sync", str(path), "--collection", posts, "--key", "summary")
    assert code == 1
    assert "row 3: column Rating:" in out
    assert set(by_summary(sandbox, posts)) == {"G-1"}


@pytest.mark.usefixtures("env")
def test_an_emptied_cell_clears_the_field_unless_empty_cells_are_kept(
    sandbox: Sandbox, posts: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path / "e.csv", "Name,Summary,Rating\nTeapot,E-1,4\nKettle,E-2,3\n")
    assert run(capsys, "sync", str(path), "--collection", posts, "--key", "summary")[0] == 0
    emptied = write(tmp_path / "e.csv", "Name,Summary,Rating\nTeapot,E-1,\nKettle,E-2,\n")

    code, out, _err = run(
        capsys, "sync", str(emptied), "--collection", posts, "--key", "summary", "--empty", "keep"
    )
    assert code == 0
    assert re.search(r"unchanged\s+2\n", out)
    assert by_summary(sandbox, posts)["E-1"]["fieldData"]["rating"] == 4

    code, out, _err = run(capsys, "sync", str(emptied), "--collection", posts, "--key", "summary")
    assert code == 0
    assert re.search(r"updated\s+2\n", out)
    stored = by_summary(sandbox, posts)
    assert stored["E-1"]["fieldData"].get("rating") is None
    assert stored["E-2"]["fieldData"].get("rating") is None
    assert stored["E-1"]["fieldData"]["name"] == "Teapot"


def test_a_file_that_is_not_utf8_is_refused_naming_the_row(
    env: dict[str, str], posts: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes("Name,Summary\nOk,O-1\nCaf\u00e9,C-1\n".encode("latin-1"))
    code, _out, err = run(capsys, "sync", str(path), "--collection", posts)
    assert code == 2
    assert "row 3 is not UTF-8" in err


def test_a_missing_photo_fails_its_row_naming_the_column(
    env: dict[str, str],
    sandbox: Sandbox,
    posts: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = write(tmp_path / "d.csv", "Name,Summary,Hero\nLost,L-9,nowhere.png\n")
    code, out, _err = run(capsys, "sync", str(path), "--collection", posts, "--key", "summary")
    assert code == 1
    assert "row 2: column Hero: no file nowhere.png" in out
    assert by_summary(sandbox, posts) == {}


def test_a_dry_run_prints_the_plan_and_writes_nothing(
    env: dict[str, str],
    sandbox: Sandbox,
    posts: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = write(tmp_path / "e.csv", "Name,Summary\nPlanned,P-1\n")
    counter = RequestCounter(sandbox)
    code, out, _err = run(
        capsys, "sync", str(path), "--collection", posts, "--key", "summary", "--dry-run"
    )
    assert code == 0
    assert "plan (dry run: nothing written)" in out
    assert "row 2 (P-1): created (new)" in out
    assert counter.writes() == 0


@pytest.mark.usefixtures("env")
def test_a_dry_run_looks_photos_up_and_shows_a_new_one_as_a_change_without_uploading(
    sandbox: Sandbox, posts: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    photo = tmp_path / "hero.png"
    photo.write_bytes(encode(photo_pixels(40, 30, 1), "PNG"))
    path = write(tmp_path / "h.csv", "Name,Summary,Hero\nTeapot,H-1,hero.png\n")
    assert run(capsys, "sync", str(path), "--collection", posts, "--key", "summary")[0] == 0
    sync = ("sync", str(path), "--collection", posts, "--key", "summary", "--dry-run")
    counter = RequestCounter(sandbox)

    code, out, _err = run(capsys, *sync)  # the same photo: found by its MD5
    assert code == 0
    assert re.search(r"unchanged\s+1\n", out)
    assert re.search(r"assets to upload\s+0\n", out)
    assert re.search(r"assets reused\s+1\n", out)

    photo.write_bytes(encode(photo_pixels(40, 30, 2), "PNG"))
    code, out, _err = run(capsys, *sync)  # another photo: planned, not uploaded
    assert code == 0
    assert "row 2 (H-1): updated (hero)" in out
    assert re.search(r"assets to upload\s+1\n", out)
    assert counter.writes() == 0


def test_the_schema_command_prints_fields_and_a_field_map_skeleton(
    env: dict[str, str], posts: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _err = run(capsys, "schema", posts)
    assert code == 0
    assert "rating" in out
    assert "Number" in out
    assert "category" in out
    code, out, _err = run(capsys, "schema", posts, "--field-map", "Contact")
    assert code == 0
    skeleton = json.loads(out)
    assert skeleton["Contact"]["Name"] == "name"
    assert "slug" not in skeleton["Contact"].values()


def test_the_console_script_is_installed_and_says_how_it_is_used() -> None:
    script = Path(sys.executable).parent / "webflow-functions"
    completed = subprocess.run(
        [str(script), "sync", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=REPO_ROOT,
        env={**os.environ},
    )
    assert completed.returncode == 0
    assert "--collection" in completed.stdout
    assert "--dry-run" in completed.stdout


def test_a_photo_url_that_answers_404_or_cannot_be_reached_fails_its_row_and_the_run_goes_on(
    env: dict[str, str],
    sandbox: Sandbox,
    posts: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    missing = f"{sandbox.root_url}/nowhere.png"
    unreachable = "http://127.0.0.1:9/closed.png"  # the discard port: nothing listens there
    path = write(
        tmp_path / "u.csv",
        f"Name,Summary,Hero\nGone,G-1,{missing}\nClosed,G-2,{unreachable}\nFine,G-3,\n",
    )
    code, out, _err = run(
        capsys,
        "sync",
        str(path),
        "--collection",
        posts,
        "--key",
        "summary",
        "--allow-host",
        "127.0.0.1",
    )
    assert code == 1
    assert "row 2: column Hero:" in out
    assert "404" in out
    assert "row 3: column Hero:" in out
    assert "could not be fetched" in out
    assert "summary" in out
    assert set(by_summary(sandbox, posts)) == {"G-3"}


def test_a_complete_delete_keeps_the_item_of_a_row_whose_file_failed(
    env: dict[str, str],
    sandbox: Sandbox,
    posts: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    first = write(tmp_path / "a.csv", "Name,Summary\nTeapot,T-1\nKettle,T-2\n")
    assert run(capsys, "sync", str(first), "--collection", posts, "--key", "summary")[0] == 0
    again = write(tmp_path / "b.csv", "Name,Summary,Hero\nTeapot,T-1,\nKettle,T-2,lost.png\n")
    code, out, _err = run(
        capsys,
        "sync",
        str(again),
        "--collection",
        posts,
        "--key",
        "summary",
        "--complete",
        "--missing",
        "delete",
    )
    assert code == 1
    assert "row 3: column Hero: no file lost.png" in out
    assert set(by_summary(sandbox, posts)) == {"T-1", "T-2"}


def test_a_path_outside_the_files_folder_or_a_private_url_fails_its_row(
    env: dict[str, str],
    sandbox: Sandbox,
    posts: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (tmp_path / "secret.png").write_bytes(encode(photo_pixels(8, 8), "PNG"))
    path = write(
        data / "t.csv",
        "Name,Summary,Hero\n"
        "Up,P-1,../secret.png\n"
        f"Abs,P-2,{tmp_path / 'secret.png'}\n"
        "Meta,P-3,http://169.254.169.254/latest/meta-data/\n",
    )
    code, out, _err = run(capsys, "sync", str(path), "--collection", posts, "--key", "summary")
    assert code == 1
    assert "row 2: column Hero: ../secret.png is outside the data file's folder" in out
    assert "row 3: column Hero:" in out
    assert "outside the data file's folder" in out
    assert "row 4: column Hero:" in out
    assert "link-local" in out
    assert by_summary(sandbox, posts) == {}
