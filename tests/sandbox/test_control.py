"""The /_sandbox control API: info, stats, reset, and the command line."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.conftest import Sandbox
from tests.sandbox.conftest import PrivateSandbox
from tests.sandbox.helpers import upload_asset
from tests.sandbox.images import png
from tests.support import ServerProcess

OBJECT_ID = re.compile(r"^[0-9a-f]{24}$")


def test_info_has_the_documented_shape(sandbox: Sandbox) -> None:
    info = sandbox.http.get("/_sandbox/info").json()

    assert info["apiBaseUrl"] == f"{sandbox.root_url}/v2"
    assert set(info) == {"apiBaseUrl", "tokens", "site", "collections"}
    assert set(info["tokens"]) == {"full", "readOnly"}
    assert OBJECT_ID.match(info["site"]["id"])
    locales = info["site"]["locales"]
    assert set(locales["primary"]) == {"id", "cmsLocaleId"}
    assert len(locales["secondary"]) == 2
    assert set(info["collections"]) == {"posts", "submissions", "gallery", "authors", "tags"}


def test_stats_count_api_requests_by_route_and_status(
    sandbox: Sandbox, api: httpx.Client, posts: str
) -> None:
    api.get(f"/collections/{posts}/items")
    api.get(f"/collections/{posts}/items", params={"limit": 0})
    api.post(f"/collections/{posts}/items/bulk", json={"fieldData": {"name": "N", "slug": "n"}})
    sandbox.http.get("/_sandbox/info")

    stats = sandbox.stats()

    assert stats["total"] == 3
    assert stats["byRoute"] == {
        "GET /v2/collections/{collection_id}/items": 2,
        "POST /v2/collections/{collection_id}/items/bulk": 1,
    }
    assert stats["byStatus"] == {"200": 1, "400": 1, "202": 1}


def test_reset_restores_the_seed_and_clears_stats(
    sandbox: Sandbox, api: httpx.Client, posts: str
) -> None:
    api.post(f"/collections/{posts}/items", json={"fieldData": {"name": "N", "slug": "n"}})

    sandbox.reset()

    assert sandbox.stats()["total"] == 0
    assert api.get(f"/collections/{posts}/items").json()["pagination"]["total"] == 0


def test_db_keeps_data_across_restarts(private_sandbox: PrivateSandbox, tmp_path: Path) -> None:
    db = str(tmp_path / "sandbox.db")
    private_sandbox.start("--db", db)
    info = private_sandbox.info()
    posts = info["collections"]["posts"]
    with private_sandbox.api(info["tokens"]["full"]) as client:
        created = client.post(
            f"/collections/{posts}/items", json={"fieldData": {"name": "Kept", "slug": "kept"}}
        ).json()
        client.post(f"/collections/{posts}/items/publish", json={"itemIds": [created["id"]]})

    private_sandbox.start("--db", db)

    with private_sandbox.api(info["tokens"]["full"]) as client:
        live = client.get(f"/collections/{posts}/items/{created['id']}/live")
        dup = client.post(
            f"/collections/{posts}/items", json={"fieldData": {"name": "Kept", "slug": "kept"}}
        )
    assert live.status_code == 200
    assert live.json()["fieldData"]["slug"] == "kept"
    assert dup.status_code == 400


def test_seed_file_replaces_the_default_seed(
    private_sandbox: PrivateSandbox, tmp_path: Path
) -> None:
    seed = {
        "sites": [
            {
                "id": "5f0000000000000000000001",
                "displayName": "Mine",
                "shortName": "mine",
                "locales": {
                    "primary": {
                        "id": "5f0000000000000000000002",
                        "cmsLocaleId": "5f0000000000000000000003",
                    }
                },
                "collections": [
                    {
                        "key": "posts",
                        "id": "5f0000000000000000000004",
                        "displayName": "Posts",
                        "singularName": "Post",
                        "slug": "posts",
                        "fields": [
                            {
                                "id": "5f0000000000000000000005",
                                "slug": "name",
                                "displayName": "Name",
                                "type": "PlainText",
                                "isRequired": True,
                            },
                            {
                                "id": "5f0000000000000000000006",
                                "slug": "slug",
                                "displayName": "Slug",
                                "type": "PlainText",
                                "isRequired": True,
                            },
                        ],
                        "items": [
                            {
                                "id": "5f0000000000000000000007",
                                "fieldData": {"name": "Seeded", "slug": "seeded"},
                                "published": True,
                            }
                        ],
                    }
                ],
            }
        ],
        "tokens": [
            {
                "name": "full",
                "token": "t-full",
                "siteId": "5f0000000000000000000001",
                "scopes": ["cms:read", "cms:write", "sites:read"],
            }
        ],
    }
    path = tmp_path / "seed.json"
    path.write_text(json.dumps(seed))

    private_sandbox.start("--seed", str(path))

    info = private_sandbox.info()
    assert info["site"]["id"] == "5f0000000000000000000001"
    assert info["tokens"]["full"] == "t-full"
    assert info["collections"] == {"posts": "5f0000000000000000000004"}
    with private_sandbox.api("t-full") as client:
        live = client.get(
            "/collections/5f0000000000000000000004/items/5f0000000000000000000007/live"
        )
    assert live.json()["fieldData"] == {"name": "Seeded", "slug": "seeded"}


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_it_cleanly(private_sandbox: PrivateSandbox, signum: signal.Signals) -> None:
    private_sandbox.start()
    assert private_sandbox.process is not None
    process = private_sandbox.process.process
    assert process is not None

    process.send_signal(signum)

    assert process.wait(timeout=10) == 0


def test_db_keeps_uploaded_assets_and_webhooks_across_restarts(
    private_sandbox: PrivateSandbox, tmp_path: Path
) -> None:
    db = str(tmp_path / "sandbox.db")
    private_sandbox.start("--db", db)
    info = private_sandbox.info()
    site = info["site"]["id"]
    data = png(20, 10)
    with private_sandbox.api(info["tokens"]["full"]) as client:
        upload = upload_asset(client, site, "kept.png", data)
        hook = client.post(
            f"/sites/{site}/webhooks",
            json={"triggerType": "form_submission", "url": "http://127.0.0.1:9/h"},
        ).json()

    private_sandbox.start("--db", db)

    with private_sandbox.api(info["tokens"]["full"]) as client:
        asset = client.get(f"/assets/{upload['id']}").json()
        hooks = client.get(f"/sites/{site}/webhooks").json()["webhooks"]
    assert asset["hostedUrl"].startswith(private_sandbox.root_url)
    assert httpx.get(asset["hostedUrl"]).content == data
    assert [h["id"] for h in hooks] == [hook["id"]]


def test_a_malformed_seed_stops_start_up_with_a_message(tmp_path: Path) -> None:
    seed = tmp_path / "seed.json"
    seed.write_text(json.dumps({"sites": [{"id": "x"}], "tokens": [{"token": "t"}]}))

    finished = subprocess.run(
        [sys.executable, "-m", "sandbox", "--port", "0", "--seed", str(seed)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )

    assert finished.returncode == 2
    assert finished.stdout == ""
    assert "cannot start" in finished.stderr


def test_console_script_prints_the_ready_line(tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "webflow-sandbox"
    if not script.exists():
        pytest.skip("webflow-sandbox is not installed beside this interpreter")
    server = ServerProcess(
        "console-script", [str(script), "--port", "0", "--rate-limit", "0"], log_dir=tmp_path
    ).start(capture_stdout=True)
    try:
        ready = server.read_json_line()
        info = httpx.get(ready["controlUrl"] + "/info").json()
    finally:
        server.stop()

    assert ready["apiBaseUrl"].startswith("http://127.0.0.1:")
    assert info["apiBaseUrl"] == ready["apiBaseUrl"]


def test_a_db_in_a_folder_not_made_yet_gets_its_folder(
    private_sandbox: PrivateSandbox, tmp_path: Path
) -> None:
    db = tmp_path / "not" / "made" / "sandbox.sqlite3"
    private_sandbox.start("--db", str(db))
    assert private_sandbox.info()["collections"]
    assert db.exists()


def test_an_unusable_db_path_stops_start_up_with_a_message(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    finished = subprocess.run(
        [sys.executable, "-m", "sandbox", "--port", "0", "--db", str(tmp_path / "a-file" / "x.db")],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )

    assert (finished.returncode, finished.stdout) == (2, "")
    assert "cannot start" in finished.stderr
