"""The local stand-in for Cloud Scheduler: POST an empty body to a function on a fixed interval
(publish-live's publishing, drain-intake's sweep)."""

from __future__ import annotations

import threading

import httpx

from devstack.procs import ServiceLog

__all__ = ["Scheduler"]


class Scheduler:
    """Calls a function every `interval` seconds, as a Cloud Scheduler job with an empty body would."""

    def __init__(
        self,
        *,
        target_url: str,
        api_key: str,
        interval: float,
        log: ServiceLog,
        timeout: float = 120.0,
        name: str = "publish-live",
    ):
        if interval <= 0:
            raise ValueError("PUBLISH_INTERVAL must be a positive number of seconds")
        self.name = name
        self.target_url = target_url
        self.interval = interval
        self.log = log
        self.runs = 0
        self._headers = {"Authorization": f"Bearer {api_key}"}
        self._http = httpx.Client(timeout=timeout)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def tick(self) -> httpx.Response | None:
        """Run one scheduled call and log its outcome; None when publish-live could not be reached."""
        self.runs += 1
        try:
            response = self._http.post(self.target_url, content=b"", headers=self._headers)
        except httpx.HTTPError as exc:
            self.log.info(f"run {self.runs}: {self.name} unreachable: {exc}")
            return None
        self.log.info(f"run {self.runs}: HTTP {response.status_code} {_summary(response)}")
        return response

    def start(self) -> None:
        """Start ticking in a background thread; the first call comes one interval from now."""
        self._thread = threading.Thread(
            target=self._run, name=f"scheduler-{self.name}", daemon=True
        )
        self._thread.start()
        self.log.info(f"calling {self.target_url} every {self.interval:g}s")

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.tick()

    def stop(self) -> None:
        """Stop ticking (a call in flight is allowed to finish)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._http.close()


def _summary(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(body, dict) and "published" in body:
        return (
            f"published {len(body.get('published') or [])}, failed {len(body.get('failed') or [])}, "
            f"remaining {body.get('remaining')}"
        )
    if isinstance(body, dict) and "batches" in body:
        return (
            f"created {body.get('created')}, existing {body.get('existing')}, "
            f"failed {body.get('failed')}, remaining {body.get('remaining')}"
        )
    return str(body)[:200]
