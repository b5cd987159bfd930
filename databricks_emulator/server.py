"""HTTP front of the emulated Databricks workspace: the REST endpoints the Airflow provider's hook
and the databricks-sdk (deploy, secrets) call, with the service's JSON shapes and error bodies.

Jobs (2.1 and 2.2): ``runs/submit``, ``runs/get`` (of a run or of one task run), ``runs/get-output``,
``runs/cancel``, ``runs/list``, ``runs/repair``, and for jobs defined in the workspace ``create``,
``reset``, ``get``, ``list`` (by ``name``), ``delete``, ``run-now``; job runs launch their
``job_clusters`` once per run (and again for a repair after the run ended), metered.
Files (2.0): ``PUT/GET/HEAD/DELETE fs/files/<path>``, ``PUT/GET/HEAD fs/directories/<path>``.
Secrets (2.0): ``secrets/scopes/create``, ``secrets/put``, ``secrets/get``.
Clusters (2.0 and 2.1): ``clusters/create``, ``get``, ``list``, ``delete``, ``permanent-delete``
(``databricks_emulator/clusters.py``); the emulator's own ``GET /api/2.0/emulator/meter``: every
cluster launched and its billed seconds.
Every request needs ``Authorization: Bearer <token>``.
"""

from __future__ import annotations

import base64
import json
import shutil
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from databricks_emulator.errors import ApiError
from databricks_emulator.runs import Workspace

JOBS_PREFIXES = ("/api/2.1/jobs/", "/api/2.2/jobs/")
CLUSTERS_PREFIXES = ("/api/2.0/clusters/", "/api/2.1/clusters/")
METER = "/api/2.0/emulator/meter"
FILES = "/api/2.0/fs/files"
DIRECTORIES = "/api/2.0/fs/directories"


class Handler(BaseHTTPRequestHandler):
    server: EmulatorServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.verbose:
            super().log_message(format, *args)

    # ---- plumbing ---------------------------------------------------------------------------
    def _send(self, status: int, body: dict[str, Any] | bytes | None = None, content_type: str = "") -> None:
        data = json.dumps(body).encode() if isinstance(body, dict) else (body or b"")
        self.send_response(status)
        self.send_header("Content-Type", content_type or "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _json(self) -> dict[str, Any]:
        raw = self._body()
        try:
            body = json.loads(raw or b"{}")
        except json.JSONDecodeError as exc:
            raise ApiError(400, "MALFORMED_REQUEST", f"invalid JSON body: {exc}") from None
        if not isinstance(body, dict):
            raise ApiError(400, "MALFORMED_REQUEST", "the body must be a JSON object")
        return body

    def _params(self) -> dict[str, Any]:
        """Query parameters (the provider's hook sends GET arguments that way) merged with a JSON body."""
        query = {k: v[-1] for k, v in parse_qs(urlsplit(self.path).query).items()}
        return {**query, **(self._json() if self.headers.get("Content-Length") not in (None, "0") else {})}

    def _dispatch(self) -> None:
        try:
            if self.path.startswith("/.well-known/databricks-config"):  # public host metadata the SDK probes
                self._send(200, {"oidc_endpoint": f"{self.server.workspace.base_url}/oidc"})
                return
            if self.headers.get("Authorization") != f"Bearer {self.server.workspace.token}":
                raise ApiError(401, "UNAUTHENTICATED", "Invalid access token.")
            self._route(unquote(urlsplit(self.path).path))
        except ApiError as exc:
            self._send(exc.status, {"error_code": exc.code, "message": exc.message})
        except (ValueError, KeyError, TypeError) as exc:
            self._send(400, {"error_code": "INVALID_PARAMETER_VALUE", "message": f"{type(exc).__name__}: {exc}"})

    def _route(self, path: str) -> None:
        if path.startswith(JOBS_PREFIXES):
            self._jobs(path.split("/jobs/", 1)[1])
        elif path.startswith(FILES):
            self._files(path[len(FILES) :])
        elif path.startswith(DIRECTORIES):
            self._directories(path[len(DIRECTORIES) :].rstrip("/"))
        elif path.startswith(CLUSTERS_PREFIXES):
            self._clusters(path.split("/clusters/", 1)[1])
        elif path == METER and self.command == "GET":
            self._send(200, self.server.workspace.clusters.meter())
        elif path.startswith("/api/2.0/secrets/"):
            self._secrets(path.rsplit("/secrets/", 1)[1])
        else:
            raise ApiError(404, "ENDPOINT_NOT_FOUND", f"No API found for '{self.command} {path}'")

    do_GET = do_POST = do_PUT = do_HEAD = do_DELETE = _dispatch

    # ---- jobs -------------------------------------------------------------------------------
    def _jobs(self, endpoint: str) -> None:
        if endpoint.startswith("runs/"):
            self._runs(endpoint)
        else:
            self._job_definitions(endpoint)

    def _job_definitions(self, endpoint: str) -> None:
        ws = self.server.workspace
        if (self.command, endpoint) == ("POST", "create"):
            self._send(200, {"job_id": ws.create_job(self._json())})
        elif (self.command, endpoint) == ("GET", "get"):
            job_id = int(self._params()["job_id"])
            self._send(200, {"job_id": job_id, "settings": ws.job(job_id)})
        elif (self.command, endpoint) == ("GET", "list"):
            name = self._params().get("name")
            jobs = [{"job_id": i, "settings": s} for i, s in sorted(ws.jobs.items()) if name in (None, s.get("name"))]
            self._send(200, {"jobs": jobs, "has_more": False})
        elif (self.command, endpoint) == ("POST", "reset"):
            body = self._json()
            ws.reset_job(int(body["job_id"]), body["new_settings"])
            self._send(200, {})
        elif (self.command, endpoint) == ("POST", "delete"):
            job_id = int(self._json()["job_id"])
            ws.job(job_id)
            del ws.jobs[job_id]
            self._send(200, {})
        elif (self.command, endpoint) == ("POST", "run-now"):
            body = self._json()
            run_id = ws.run_now(int(body["job_id"]), body.get("job_parameters") or {}, body.get("idempotency_token"))
            self._send(200, {"run_id": run_id, "number_in_job": ws.get(run_id).number_in_job})
        else:
            raise ApiError(404, "ENDPOINT_NOT_FOUND", f"No API found for '{self.command} jobs/{endpoint}'")

    def _runs(self, endpoint: str) -> None:
        ws = self.server.workspace
        if (self.command, endpoint) == ("POST", "runs/submit"):
            self._send(200, {"run_id": ws.submit(self._json())})
        elif (self.command, endpoint) == ("GET", "runs/get"):
            params = self._params()
            self._send(200, ws.describe(int(params["run_id"]), str(params.get("include_history")).lower() == "true"))
        elif (self.command, endpoint) == ("POST", "runs/repair"):
            self._send(200, {"repair_id": ws.repair(self._json())})
        elif (self.command, endpoint) == ("GET", "runs/get-output"):
            task = ws.task_run(int(self._params()["run_id"]))
            out: dict[str, Any] = {
                "metadata": {"run_id": task.run_id, "task_key": task.task_key, "state": task.state()}
            }
            if task.error:
                out["error"], out["error_trace"] = task.error, task.error_trace
            out["logs"], out["logs_truncated"] = task.logs[-5000:], len(task.logs) > 5000
            self._send(200, out)
        elif (self.command, endpoint) == ("POST", "runs/cancel"):
            ws.cancel(int(self._json()["run_id"]))
            self._send(200, {})
        elif (self.command, endpoint) == ("GET", "runs/list"):
            self._send(200, {"runs": [r.describe() for r in sorted(ws.runs.values(), key=lambda r: -r.run_id)]})
        else:
            raise ApiError(404, "ENDPOINT_NOT_FOUND", f"No API found for '{self.command} jobs/{endpoint}'")

    # ---- clusters ---------------------------------------------------------------------------
    def _clusters(self, endpoint: str) -> None:
        clusters = self.server.workspace.clusters
        if (self.command, endpoint) == ("POST", "create"):
            self._send(200, {"cluster_id": clusters.create(self._json())})
        elif (self.command, endpoint) == ("GET", "get"):
            self._send(200, clusters.get(str(self._params()["cluster_id"])).describe(time.time()))
        elif (self.command, endpoint) == ("GET", "list"):
            self._send(200, {"clusters": clusters.listed()})
        elif self.command == "POST" and endpoint in ("delete", "permanent-delete"):
            clusters.delete(str(self._json()["cluster_id"]), permanently=endpoint == "permanent-delete")
            self._send(200, {})
        else:
            raise ApiError(404, "ENDPOINT_NOT_FOUND", f"No API found for '{self.command} clusters/{endpoint}'")

    # ---- files ------------------------------------------------------------------------------
    def _files(self, path: str) -> None:
        target = self.server.workspace.local(path)
        if self.command == "PUT":
            overwrite = parse_qs(urlsplit(self.path).query).get("overwrite", ["false"])[-1] == "true"
            if target.exists() and not overwrite:
                raise ApiError(409, "ALREADY_EXISTS", f"The file being created already exists: {path}")
            data = self._body()
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            self._send(204)
        elif not target.is_file():
            raise ApiError(404, "NOT_FOUND", f"The file being accessed is not found: {path}")
        elif self.command == "DELETE":
            target.unlink()
            self._send(204)
        else:
            self._send(200, target.read_bytes(), "application/octet-stream")

    def _directories(self, path: str) -> None:
        target = self.server.workspace.local(path)
        if self.command == "PUT":
            target.mkdir(parents=True, exist_ok=True)
            self._send(204)
        elif not target.is_dir():
            raise ApiError(404, "NOT_FOUND", f"The directory being accessed is not found: {path}")
        elif self.command == "DELETE":
            shutil.rmtree(target)
            self._send(204)
        elif self.command == "HEAD":
            self._send(200)
        else:
            entries = [
                {"path": f"{path}/{p.name}", "name": p.name, "is_directory": p.is_dir()}
                | ({} if p.is_dir() else {"file_size": p.stat().st_size})
                for p in sorted(target.iterdir())
            ]
            self._send(200, {"contents": entries})

    # ---- secrets ----------------------------------------------------------------------------
    def _secrets(self, endpoint: str) -> None:
        store = self.server.workspace.secrets
        if (self.command, endpoint) == ("POST", "scopes/create"):
            scope = self._json()["scope"]
            if scope in store:
                raise ApiError(400, "RESOURCE_ALREADY_EXISTS", f"Scope {scope} already exists!")
            store[scope] = {}
            self._send(200, {})
        elif (self.command, endpoint) == ("POST", "put"):
            body = self._json()
            if body["scope"] not in store:
                raise ApiError(404, "RESOURCE_DOES_NOT_EXIST", f"Scope {body['scope']} does not exist!")
            store[body["scope"]][body["key"]] = body["string_value"]
            self._send(200, {})
        elif (self.command, endpoint) == ("GET", "get"):
            params = self._params()
            value = store.get(params["scope"], {}).get(params["key"])
            if value is None:
                raise ApiError(404, "RESOURCE_DOES_NOT_EXIST", f"Failed to get secret {params['key']}")
            self._send(200, {"key": params["key"], "value": base64.b64encode(value.encode()).decode()})
        else:
            raise ApiError(404, "ENDPOINT_NOT_FOUND", f"No API found for '{self.command} secrets/{endpoint}'")


class EmulatorServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], workspace: Workspace, verbose: bool = False) -> None:
        super().__init__(address, Handler)
        self.workspace = workspace
        self.verbose = verbose
