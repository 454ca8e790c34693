"""Start every service and the gateway, print where they listen, stop them all on Ctrl-C (`make run`).

A small supervisor: one uvicorn process per service, health-checked at start; a process that dies is
restarted with a growing pause, so one crash doesn't take the platform down.
"""

import os
import signal
import subprocess
import sys
import time
import urllib.request

from services.common.keys import development_service_secret, ensure_signing_keys
from services.common.migrations import ALL, settings_of
from services.common.serving import uvicorn_command

APPS = {name: ("gateway.app:create_app" if name == "gateway" else f"services.{name}.app:create_app")
        for name in ALL}
START_ORDER = ("catalog", "orders", "delivery", "payments", "gateway")


def _spawn(name: str) -> subprocess.Popen:
    settings = settings_of(name)
    workers = str(settings.workers)
    # the gateway decides whose X-Forwarded-For to believe (FORWARDED_ALLOW_IPS)
    cmd = uvicorn_command(APPS[name], host=settings.host, port=settings.port, workers=workers, log_level="warning",
                          graceful_seconds=5, proxy_headers=name != "gateway")
    # each worker reads its count to take its share of the service's connection budget
    env = {**os.environ, f"{name.upper()}_WORKERS": workers}
    return subprocess.Popen(cmd, env=env, start_new_session=True)


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
            return response.status in (200, 503)
    except OSError:
        return False


def _stop(processes: dict[str, subprocess.Popen]) -> None:
    for proc in processes.values():
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    for proc in processes.values():
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def main() -> int:
    ensure_signing_keys()
    if not os.environ.get("MC_SERVICE_SECRET"):
        development_service_secret()
    processes: dict[str, subprocess.Popen] = {}
    restarts: dict[str, int] = dict.fromkeys(START_ORDER, 0)
    stopping = False

    def _on_signal(signum, _frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    try:
        for name in START_ORDER:
            processes[name] = _spawn(name)
        ports = {name: settings_of(name).port for name in START_ORDER}
        deadline = time.monotonic() + 60
        waiting = set(START_ORDER)
        while waiting and not stopping and time.monotonic() < deadline:
            for name in list(waiting):
                if processes[name].poll() is not None:
                    print(f"{name} exited at start (code {processes[name].returncode}); see its log above")
                    stopping = True
                    break
                if _healthy(ports[name]):
                    waiting.discard(name)
            time.sleep(0.3)
        if stopping:
            return 1
        if waiting:
            print(f"not healthy after 60 s: {', '.join(sorted(waiting))}")
        print("\nMercado Corto is running:")
        print(f"  tienda y páginas  http://127.0.0.1:{ports['gateway']}/")
        print(f"  API (documentada) http://127.0.0.1:{ports['gateway']}/docs")
        print(f"  salud             http://127.0.0.1:{ports['gateway']}/healthz")
        for name in START_ORDER[:-1]:
            print(f"  {name:17s} http://127.0.0.1:{ports[name]}  (internal)")
        print("Ctrl-C stops everything.\n", flush=True)
        while not stopping:
            time.sleep(0.5)
            for name, proc in list(processes.items()):
                if proc.poll() is not None and not stopping:
                    restarts[name] += 1
                    pause = min(30, 2 ** restarts[name])
                    print(f"{name} exited (code {proc.returncode}); restarting in {pause} s")
                    time.sleep(pause)
                    processes[name] = _spawn(name)
        return 0
    finally:
        print("stopping…", flush=True)
        _stop(processes)


if __name__ == "__main__":
    sys.exit(main())
