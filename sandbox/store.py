"""Sandbox state: sites, tokens, collections, items, assets and webhooks.

Everything lives in memory (the hot path); with a database path every change is
also written through to SQLite so the data survives a restart.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from .ids import new_id, now_iso

Doc = dict[str, Any]


def load_seed(path: str | Path | None) -> Doc:
    """Read a seed file, or the packaged default seed when ``path`` is None."""
    if path is None:
        text = resources.files("sandbox").joinpath("seed.json").read_text(encoding="utf-8")
    else:
        text = Path(path).read_text(encoding="utf-8")
    seed = json.loads(text)
    if not isinstance(seed, dict) or not seed.get("sites") or not seed.get("tokens"):
        raise ValueError("seed must be an object with non-empty 'sites' and 'tokens'")
    return seed


@dataclass
class Token:
    """An API token: one site, a set of scopes."""

    token: str
    site_id: str
    scopes: frozenset[str]
    name: str = ""


@dataclass
class State:
    """The in-memory documents, indexed for the request paths."""

    sites: dict[str, Doc] = field(default_factory=dict)
    collections: dict[str, Doc] = field(default_factory=dict)
    tokens: dict[str, Token] = field(default_factory=dict)
    # collection id -> item id -> item document (insertion ordered = creation order)
    items: dict[str, dict[str, Doc]] = field(default_factory=dict)
    # (collection id, cms locale id) -> slug -> item id
    slugs: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)
    assets: dict[str, Doc] = field(default_factory=dict)
    blobs: dict[str, bytes] = field(default_factory=dict)
    webhooks: dict[str, Doc] = field(default_factory=dict)
    # seed keys of the first site's collections, for /_sandbox/info
    collection_keys: dict[str, str] = field(default_factory=dict)


class Store:
    """Thread-safe state with optional SQLite write-through.

    Callers hold :attr:`lock` around a read-modify-write sequence and wrap
    mutations in :meth:`transaction`, which commits once at the end.
    """

    def __init__(self, seed: Doc, db_path: str | None = None) -> None:
        self.lock = threading.RLock()
        self.seed = seed
        self.state = State()
        self._db: sqlite3.Connection | None = None
        if db_path:
            self._db = sqlite3.connect(db_path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS docs (kind TEXT NOT NULL, id TEXT NOT NULL,"
                " doc TEXT NOT NULL, PRIMARY KEY (kind, id))"
            )
            self._db.execute("CREATE TABLE IF NOT EXISTS blobs (id TEXT PRIMARY KEY, data BLOB)")
            self._db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
        with self.lock:
            if self._db is not None and self._db_is_seeded():
                self._load_from_db()
            else:
                self.reset()

    # ------------------------------------------------------------------ lifecycle
    def reset(self) -> None:
        """Drop every document and load the seed again."""
        with self.lock, self.transaction():
            self.state = State()
            if self._db is not None:
                self._db.execute("DELETE FROM docs")
                self._db.execute("DELETE FROM blobs")
                self._db.execute("DELETE FROM meta")
            self._apply_seed(self.seed)
            self._index_collection_keys()
            if self._db is not None:
                self._db.execute("INSERT OR REPLACE INTO meta VALUES ('seeded', ?)", (now_iso(),))

    def close(self) -> None:
        """Close the database, if any."""
        with self.lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Group the writes of one request into one SQLite transaction."""
        with self.lock:
            if self._db is None or self._db.in_transaction:
                yield
                return
            self._db.execute("BEGIN")
            try:
                yield
            except BaseException:
                self._db.execute("COMMIT")  # in-memory state already changed: keep them equal
                raise
            self._db.execute("COMMIT")

    def seed_site(self) -> Doc:
        """The seed's first site: the one /_sandbox/info describes and forms post to."""
        return self.state.sites[self.seed["sites"][0]["id"]]

    # ------------------------------------------------------------------ seed
    def _apply_seed(self, seed: Doc) -> None:
        created = now_iso()
        for site_seed in seed["sites"]:
            site = {k: v for k, v in site_seed.items() if k not in ("collections", "items")}
            site.setdefault("createdOn", created)
            site.setdefault("lastUpdated", created)
            site.setdefault("lastPublished", None)
            site.setdefault("previewUrl", f"https://screenshots.example.com/{site['id']}.png")
            site.setdefault("customDomains", [])
            site.setdefault("forms", [])
            locales = site.setdefault("locales", {})
            locales.setdefault("secondary", [])
            for locale in [locales["primary"], *locales["secondary"]]:
                locale.setdefault("enabled", True)
                locale.setdefault("redirect", False)
            self.put_site(site)
            for coll_seed in site_seed.get("collections", []):
                collection = {k: v for k, v in coll_seed.items() if k not in ("key", "items")}
                collection["siteId"] = site["id"]
                collection.setdefault("createdOn", created)
                collection.setdefault("lastUpdated", created)
                for fld in collection["fields"]:
                    fld.setdefault("isEditable", True)
                    fld.setdefault("isRequired", False)
                    fld.setdefault("helpText", "")
                    fld.setdefault("validations", None)
                self.put_collection(collection)
                primary = locales["primary"]["cmsLocaleId"]
                for item_seed in coll_seed.get("items", []):
                    self.put_item(_seed_item(item_seed, collection["id"], primary, created))
        for token_seed in seed["tokens"]:
            self.put_token(token_seed)

    # ------------------------------------------------------------------ persistence
    def _db_is_seeded(self) -> bool:
        assert self._db is not None
        return self._db.execute("SELECT 1 FROM meta WHERE key='seeded'").fetchone() is not None

    def _load_from_db(self) -> None:
        assert self._db is not None
        indexers = {
            "site": self._index_site,
            "collection": self._index_collection,
            "token": self._index_token,
            "item": self._index_item,
            "asset": self._index_asset,
            "webhook": self._index_webhook,
        }
        for kind, index in indexers.items():
            rows = self._db.execute(
                "SELECT doc FROM docs WHERE kind=? ORDER BY rowid", (kind,)
            ).fetchall()
            for (text,) in rows:
                index(json.loads(text))
        for asset_id, data in self._db.execute("SELECT id, data FROM blobs"):
            self.state.blobs[asset_id] = bytes(data)
        self._index_collection_keys()

    def _write(self, kind: str, doc_id: str, doc: Doc | None) -> None:
        if self._db is None:
            return
        if doc is None:
            self._db.execute("DELETE FROM docs WHERE kind=? AND id=?", (kind, doc_id))
        else:
            self._db.execute(
                "INSERT INTO docs (kind, id, doc) VALUES (?, ?, ?)"
                " ON CONFLICT (kind, id) DO UPDATE SET doc=excluded.doc",
                (kind, doc_id, json.dumps(doc, separators=(",", ":"))),
            )

    # ------------------------------------------------------------------ indexers
    def _index_collection_keys(self) -> None:
        """Name the first seed site's collections by their seed keys, for /_sandbox/info."""
        for coll_seed in self.seed["sites"][0].get("collections", []):
            if coll_seed.get("key") and coll_seed["id"] in self.state.collections:
                self.state.collection_keys[coll_seed["key"]] = coll_seed["id"]

    def _index_site(self, site: Doc) -> None:
        self.state.sites[site["id"]] = site

    def _index_collection(self, collection: Doc) -> None:
        self.state.collections[collection["id"]] = collection
        self.state.items.setdefault(collection["id"], {})

    def _index_token(self, doc: Doc) -> None:
        self.state.tokens[doc["token"]] = Token(
            token=doc["token"],
            site_id=doc["siteId"],
            scopes=frozenset(doc.get("scopes", [])),
            name=doc.get("name", ""),
        )

    def _index_item(self, item: Doc) -> None:
        collection_id = item["collectionId"]
        old = self.state.items.setdefault(collection_id, {}).get(item["id"])
        if old is not None:
            self._unindex_slugs(old)
        self.state.items[collection_id][item["id"]] = item
        for locale_id, variant in item["variants"].items():
            slug = variant["fieldData"].get("slug")
            if slug:
                self.state.slugs.setdefault((collection_id, locale_id), {})[slug] = item["id"]

    def _unindex_slugs(self, item: Doc) -> None:
        for locale_id, variant in item["variants"].items():
            index = self.state.slugs.get((item["collectionId"], locale_id), {})
            slug = variant["fieldData"].get("slug")
            if slug and index.get(slug) == item["id"]:
                del index[slug]

    def _index_asset(self, asset: Doc) -> None:
        self.state.assets[asset["id"]] = asset

    def _index_webhook(self, webhook: Doc) -> None:
        self.state.webhooks[webhook["id"]] = webhook

    # ------------------------------------------------------------------ writers
    def put_site(self, site: Doc) -> None:
        """Store a site document."""
        self._index_site(site)
        self._write("site", site["id"], site)

    def put_collection(self, collection: Doc) -> None:
        """Store a collection document (its schema)."""
        self._index_collection(collection)
        self._write("collection", collection["id"], collection)

    def put_token(self, doc: Doc) -> None:
        """Store a token ``{token, siteId, scopes, name}``."""
        self._index_token(doc)
        self._write("token", doc["token"], doc)

    def put_item(self, item: Doc) -> None:
        """Store an item document ``{id, collectionId, variants: {cmsLocaleId: variant}}``."""
        self._index_item(item)
        self._write("item", item["id"], item)

    def delete_item(self, item: Doc) -> None:
        """Remove an item and its slug index entries."""
        self._unindex_slugs(item)
        self.state.items[item["collectionId"]].pop(item["id"], None)
        self._write("item", item["id"], None)

    def put_asset(self, asset: Doc, data: bytes | None = None) -> None:
        """Store an asset document and, when given, its bytes."""
        self._index_asset(asset)
        self._write("asset", asset["id"], asset)
        if data is not None:
            self.state.blobs[asset["id"]] = data
            if self._db is not None:
                self._db.execute(
                    "INSERT OR REPLACE INTO blobs (id, data) VALUES (?, ?)", (asset["id"], data)
                )

    def delete_asset(self, asset_id: str) -> None:
        """Remove an asset and its bytes."""
        self.state.assets.pop(asset_id, None)
        self.state.blobs.pop(asset_id, None)
        self._write("asset", asset_id, None)
        if self._db is not None:
            self._db.execute("DELETE FROM blobs WHERE id=?", (asset_id,))

    def put_webhook(self, webhook: Doc) -> None:
        """Store a webhook registration."""
        self._index_webhook(webhook)
        self._write("webhook", webhook["id"], webhook)

    def delete_webhook(self, webhook_id: str) -> None:
        """Remove a webhook registration."""
        self.state.webhooks.pop(webhook_id, None)
        self._write("webhook", webhook_id, None)


def _seed_item(seed: Doc, collection_id: str, primary_locale: str, created: str) -> Doc:
    """An item document from a seed entry: a full document, or the short form
    ``{"id"?, "fieldData", "isDraft"?, "isArchived"?, "published"?, "cmsLocaleIds"?}``."""
    if "variants" in seed:
        return dict(seed, collectionId=collection_id)
    published = bool(seed.get("published", False))
    variants = {}
    for locale in seed.get("cmsLocaleIds") or [primary_locale]:
        variants[locale] = {
            "cmsLocaleId": locale,
            "createdOn": created,
            "lastUpdated": created,
            "lastPublished": created if published else None,
            "isDraft": bool(seed.get("isDraft", False)),
            "isArchived": bool(seed.get("isArchived", False)),
            "fieldData": dict(seed["fieldData"]),
            "live": (
                {
                    "fieldData": dict(seed["fieldData"]),
                    "isArchived": bool(seed.get("isArchived", False)),
                }
                if published
                else None
            ),
        }
    return {
        "id": seed.get("id") or new_id(),
        "collectionId": collection_id,
        "createdOn": created,
        "variants": variants,
    }
