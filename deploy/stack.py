"""Start real servers on 127.0.0.1: PostgreSQL (Debian's binaries), ``chroma run`` and ``whosaid serve``.

One home for this wiring, so tests, benchmarks and ``make stack`` start servers the same way. Every
start waits by polling (CI machines may be loaded many times over) and returns as soon as the server
answers; it fails early, with the tail of the server's log, if the process ends first.

    python -m deploy.stack up [--dir DIR] [--pg-port N] [--chroma-port N] [--ports 7861,7862]
    python -m deploy.stack down [--dir DIR]
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import pwd
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import TypeVar

T = TypeVar("T")

HOST = "127.0.0.1"
PG_USER = "whosaid"
PG_DATABASE = "whosaid"
# The OS account PostgreSQL runs as when we are root: the server refuses to run as root.
PG_OS_USER = "postgres"
START_TIMEOUT = 600.0  # seconds; generous because a loaded CI machine can be very slow, and waits return early
STOP_TIMEOUT = 60.0
_SOCKET_PATH_MAX = 107  # sun_path is 108 bytes on Linux, including the NUL


class ServerUnavailable(RuntimeError):
    """This machine cannot run the server (binaries missing, no account to run it as): tests skip with the reason."""


class StartFailed(RuntimeError):
    """The server was started but did not become ready; the message carries the tail of its log."""


# --- small helpers -------------------------------------------------------------------------------------


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now (the OS picks it, so parallel runs do not collide)."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _log_tail(path: Path | None, limit: int = 2000) -> str:
    if path is None:
        return ""
    try:
        return path.read_bytes()[-limit:].decode("utf-8", "replace").strip()
    except OSError:
        return ""


def wait_until(condition: Callable[[], T], what: str, proc: subprocess.Popen | None = None,
               timeout: float = START_TIMEOUT, *, log: Path | None = None, interval: float = 0.2) -> T:
    """Poll ``condition()`` until it is truthy and return its value. Returns as soon as it holds; raises
    ``StartFailed`` (with ``log``'s tail) if ``proc`` ends first or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            raise StartFailed(f"{what}: the process ended (rc {proc.returncode}) first; log tail:\n{_log_tail(log)}")
        if time.monotonic() > deadline:
            raise StartFailed(f"{what}: not ready after {timeout:.0f} s; log tail:\n{_log_tail(log)}")
        time.sleep(interval)


# Loopback requests must never go through a proxy named in the environment.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _answers(url: str) -> bool:
    """True when ``url`` answers 200."""
    try:
        with _OPENER.open(url, timeout=5) as response:
            return response.status == 200
    except (OSError, urllib.error.URLError):
        return False


def _alive(pid: int) -> bool:
    """Whether ``pid`` is a live process. A zombie counts as gone: in containers whose PID 1 does not reap,
    a stopped daemon can linger as one."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
    except OSError:
        return ""


def _terminate(proc: subprocess.Popen, timeout: float = STOP_TIMEOUT) -> None:
    """SIGTERM, then SIGKILL if it does not end in ``timeout`` seconds."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _venv_exe(name: str) -> Path:
    """A console script of this environment: it sits next to the interpreter (not resolved: a venv's
    python is a symlink to the base interpreter)."""
    return Path(sys.executable).with_name(name)


class _Server:
    """Context-manager support shared by the server handles."""

    def stop(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def __enter__(self):
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()


# --- PostgreSQL ------------------------------------------------------------------------------------------


def _version_key(path: str) -> tuple[int, ...]:
    try:
        return tuple(int(p) for p in Path(path).parent.name.split("."))
    except ValueError:
        return (0,)


def pg_bindir() -> Path:
    """The directory holding ``initdb``, ``pg_ctl``, ``postgres`` and ``createdb``. Debian keeps them off
    PATH in /usr/lib/postgresql/N/bin, so look there (newest first) after ``pg_config --bindir``."""
    needed = ("initdb", "pg_ctl", "postgres", "createdb")
    candidates: list[Path] = []
    if pg_config := shutil.which("pg_config"):
        try:
            out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, timeout=30)
            if out.returncode == 0 and out.stdout.strip():
                candidates.append(Path(out.stdout.strip()))
        except (OSError, subprocess.TimeoutExpired):
            pass
    candidates += [Path(p) for p in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key, reverse=True)]
    if initdb := shutil.which("initdb"):
        candidates += [Path(initdb).parent, Path(initdb).resolve().parent]
    for d in candidates:
        if all(os.access(d / n, os.X_OK) for n in needed):
            return d
    raise ServerUnavailable("PostgreSQL binaries (initdb, pg_ctl, postgres, createdb) not found: "
                            "install Debian's postgresql package")


def _run_as_prefix() -> tuple[list[str], str | None]:
    """How to run PostgreSQL's binaries: as ourselves, or through ``runuser`` as ``postgres`` when we are root
    (initdb and postgres refuse to run as root)."""
    if os.geteuid() != 0:
        return [], None
    try:
        pwd.getpwnam(PG_OS_USER)
    except KeyError:
        raise ServerUnavailable(f"running as root, and there is no {PG_OS_USER!r} account to run PostgreSQL as "
                                "(PostgreSQL refuses to run as root)") from None
    if not (shutil.which("runuser") or os.path.exists("/usr/sbin/runuser")):
        raise ServerUnavailable("running as root, and runuser is missing: cannot run PostgreSQL as "
                                f"{PG_OS_USER!r} (PostgreSQL refuses to run as root)")
    return _as(PG_OS_USER), PG_OS_USER


def _own(path: Path, user: str | None) -> None:
    if user is not None:
        shutil.chown(path, user, user)


def _as(user: str | None) -> list[str]:
    return [shutil.which("runuser") or "/usr/sbin/runuser", "-u", user, "--"] if user else []


def _pg_ctl_stop(bindir: Path, datadir: Path, user: str | None, timeout: float = STOP_TIMEOUT) -> None:
    """``pg_ctl stop -m fast``: clients are disconnected, the server shuts down cleanly. No-op if not running."""
    prefix = _as(user)
    status = subprocess.run(prefix + [str(bindir / "pg_ctl"), "status", "-D", str(datadir)],
                            capture_output=True, text=True, cwd="/")
    if status.returncode != 0:  # 3: not running; 4: no data directory
        return
    out = subprocess.run(prefix + [str(bindir / "pg_ctl"), "stop", "-D", str(datadir), "-m", "fast", "-w",
                                   "-t", str(int(timeout))], capture_output=True, text=True, cwd="/")
    if out.returncode != 0:
        raise RuntimeError(f"pg_ctl stop failed (rc {out.returncode}): {(out.stderr or out.stdout).strip()}")


class Postgres(_Server):
    """A running PostgreSQL cluster under ``root`` listening on 127.0.0.1:``port`` with trust auth."""

    def __init__(self, root: Path, port: int, bindir: Path, user: str | None, pid: int) -> None:
        self.root, self.port, self.bindir, self.user, self.pid = root, port, bindir, user, pid
        self.host = HOST
        self.datadir = root / "pgdata"
        self.log = root / "postgres.log"
        self.url = f"postgresql://{PG_USER}@{HOST}:{port}/{PG_DATABASE}"

    def stop(self) -> None:
        """Stop the server and wait for the postmaster to be gone (its children end before it does)."""
        _pg_ctl_stop(self.bindir, self.datadir, self.user)
        wait_until(lambda: not _alive(self.pid), "PostgreSQL did not stop", timeout=STOP_TIMEOUT, log=self.log)

    def __repr__(self) -> str:
        return f"Postgres(url={self.url!r}, pid={self.pid})"


def start_postgres(root: Path, port: int | None = None, timeout: float = START_TIMEOUT) -> Postgres:
    """Start PostgreSQL with its cluster in ``root/pgdata`` (created by initdb on first use, reused after),
    log in ``root/postgres.log``, and database ``whosaid`` owned by role ``whosaid`` (trust auth on loopback).

    As root it runs as the ``postgres`` account, which must be able to reach ``root``."""
    bindir = pg_bindir()
    prefix, user = _run_as_prefix()
    root = Path(root).resolve()
    port = port or free_port()
    datadir, log, sockdir = root / "pgdata", root / "postgres.log", root / "run"
    root.mkdir(parents=True, exist_ok=True)
    for d in (datadir, sockdir):
        if not d.exists():
            d.mkdir(mode=0o700)
            _own(d, user)
    if not log.exists():
        log.touch()
        _own(log, user)
    if user is not None:
        reach = subprocess.run(prefix + ["test", "-w", str(datadir), "-a", "-w", str(log)], cwd="/")
        if reach.returncode != 0:
            raise ServerUnavailable(f"running as root, PostgreSQL runs as {user!r}, and {user!r} cannot reach {root} "
                                    "(a parent directory is not searchable): use a directory it can reach")

    def run(args: Sequence[str], what: str) -> None:
        # start_new_session: the postmaster is pg_ctl's child, so a Ctrl-C meant for us does not reach it out of order
        out = subprocess.run(prefix + list(args), capture_output=True, text=True, cwd="/", start_new_session=True)
        if out.returncode != 0:
            raise StartFailed(f"{what} failed (rc {out.returncode}): {(out.stderr or out.stdout).strip()[-2000:]}"
                              + (f"\nlog tail:\n{_log_tail(log)}" if what.startswith("pg_ctl") else ""))

    if not (datadir / "PG_VERSION").exists():
        run([str(bindir / "initdb"), "-D", str(datadir), "-U", PG_USER, "--auth=trust", "-E", "UTF8", "--no-locale"],
            "initdb")
    status = subprocess.run(prefix + [str(bindir / "pg_ctl"), "status", "-D", str(datadir)], capture_output=True,
                            text=True, cwd="/")
    if status.returncode == 0:
        raise StartFailed(f"PostgreSQL is already running on {datadir}: {status.stdout.strip()}; stop it first")
    # Unix sockets live in root/run; when that path is too long for a socket name, only TCP is used.
    sock = str(sockdir) if len(f"{sockdir}/.s.PGSQL.{port}.lock") <= _SOCKET_PATH_MAX else ""
    options = f"-h {HOST} -p {port} -k {shlex.quote(sock)}"
    try:
        run([str(bindir / "pg_ctl"), "-D", str(datadir), "-o", options, "-l", str(log), "-w", "-t", str(int(timeout)),
             "start"], "pg_ctl start")
    except BaseException:  # interrupted or failed mid-start: leave nothing running
        _pg_ctl_stop(bindir, datadir, user)
        raise
    pid = int((datadir / "postmaster.pid").read_text().split("\n", 1)[0])
    server = Postgres(root, port, bindir, user, pid)
    try:
        created = subprocess.run([str(bindir / "createdb"), "-h", HOST, "-p", str(port), "-U", PG_USER, PG_DATABASE],
                                 capture_output=True, text=True, cwd="/", env={**os.environ, "PGPASSWORD": ""})
        if created.returncode != 0 and "already exists" not in created.stderr:
            raise StartFailed(f"createdb failed (rc {created.returncode}): {created.stderr.strip()}")
    except BaseException:
        server.stop()
        raise
    return server


# --- Chroma --------------------------------------------------------------------------------------------


class ChromaServer(_Server):
    """A ``chroma run`` process serving the collections in ``path``."""

    def __init__(self, proc: subprocess.Popen, path: Path, port: int, log: Path) -> None:
        self.proc, self.path, self.port, self.log = proc, path, port, log
        self.host = HOST
        self.url = f"http://{HOST}:{port}"

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self) -> None:
        _terminate(self.proc)

    def __repr__(self) -> str:
        return f"ChromaServer(url={self.url!r}, pid={self.pid})"


def start_chroma(root: Path, port: int | None = None, timeout: float = START_TIMEOUT) -> ChromaServer:
    """Run ``chroma run --path root/chroma`` on 127.0.0.1 (log in ``root/chroma.log``) until its heartbeat answers."""
    exe = _venv_exe("chroma")
    if not exe.exists():
        raise ServerUnavailable(f"chroma CLI not installed ({exe} missing)")
    root = Path(root).resolve()
    path, log = root / "chroma", root / "chroma.log"
    path.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    command = [str(exe), "run", "--path", str(path), "--host", HOST, "--port", str(port)]
    env = {**os.environ, "ANONYMIZED_TELEMETRY": "False"}  # offline: no telemetry attempts
    with open(log, "ab") as out:  # a file, not a pipe: a pipe nobody reads fills up and stalls the server
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                                start_new_session=True)
    server = ChromaServer(proc, path, port, log)
    try:
        wait_until(lambda: _answers(f"{server.url}/api/v2/heartbeat"), "chroma server did not start", proc,
                   timeout, log=log, interval=0.3)
    except BaseException:
        server.stop()
        raise
    return server


# --- whosaid serve -------------------------------------------------------------------------------------


class ServeProcess(_Server):
    """A ``whosaid serve`` process; ``proc`` is its ``subprocess.Popen``."""

    def __init__(self, proc: subprocess.Popen, home: Path, port: int, log: Path) -> None:
        self.proc, self.home, self.port, self.log = proc, home, port, log
        self.host = HOST
        self.url = f"http://{HOST}:{port}"

    @property
    def pid(self) -> int:
        return self.proc.pid

    def poll(self) -> int | None:
        return self.proc.poll()

    def stop(self) -> None:
        _terminate(self.proc)

    def __repr__(self) -> str:
        return f"ServeProcess(url={self.url!r}, pid={self.pid})"


def start_serve(home: Path, port: int, env: Mapping[str, str] | None = None,
                timeout: float = START_TIMEOUT) -> ServeProcess:
    """Run ``whosaid serve`` on 127.0.0.1:``port`` with ``WHOSAID_HOME=home`` plus ``env`` (e.g.
    ``WHOSAID_CATALOGUE_URL``, ``WHOSAID_CHROMA__HOST``/``__PORT``) until ``GET /healthz`` answers 200.
    Its log goes next to the data directory (``<home>.log``), not into it."""
    exe = _venv_exe("whosaid")
    if not exe.exists():
        raise ServerUnavailable(f"whosaid is not installed ({exe} missing)")
    home = Path(home).resolve()
    home.mkdir(parents=True, exist_ok=True)
    log = home.with_name(home.name + ".log")
    full_env = {**os.environ, "WHOSAID_HOME": str(home), **(env or {})}
    command = [str(exe), "serve", "--host", HOST, "--port", str(port)]
    with open(log, "ab") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=full_env,
                                start_new_session=True)
    server = ServeProcess(proc, home, port, log)
    try:
        wait_until(lambda: _answers(f"{server.url}/healthz"), f"whosaid serve on port {port} did not start", proc,
                   timeout, log=log, interval=0.3)
    except BaseException:
        server.stop()
        raise
    return server


# --- the stack: python -m deploy.stack up|down ----------------------------------------------------------


STACK_FILE = "stack.json"


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    tmp.replace(path)


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _first_gone(pg: Postgres, chroma: ChromaServer, serves: Sequence[ServeProcess]) -> str | None:
    """The name of the first server that has exited, if any."""
    if not _alive(pg.pid):
        return "PostgreSQL"
    if chroma.proc.poll() is not None:
        return f"chroma (rc {chroma.proc.returncode})"
    for s in serves:
        if s.proc.poll() is not None:
            return f"whosaid serve on port {s.port} (rc {s.proc.returncode})"
    return None


def up(directory: Path, pg_port: int | None, chroma_port: int | None, ports: Sequence[int]) -> int:
    """Start PostgreSQL, Chroma and one ``whosaid serve`` per port sharing them; stay until Ctrl-C/SIGTERM."""
    directory = directory.resolve()
    directory.mkdir(parents=True, exist_ok=True)
    state_path = directory / STACK_FILE
    if state_path.exists():
        old = json.loads(state_path.read_text())
        if _alive(old.get("pid", 0)) and "deploy.stack" in _cmdline(old["pid"]):
            print(f"error: a stack is already running from {directory} (pid {old['pid']}); "
                  f"stop it with: python -m deploy.stack down --dir {directory}", file=sys.stderr)
            return 1
        _down_leftovers(old)  # a previous `up` was killed outright: clear what it left running
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):  # SIGINT too: a shell's background job starts ignoring it
        signal.signal(sig, _raise_interrupt)
    state: dict = {"dir": str(directory), "pid": os.getpid(), "serves": []}
    started: list[_Server] = []
    code = 0
    try:
        pg = start_postgres(directory, pg_port)
        started.append(pg)
        state["postgres"] = {"url": pg.url, "port": pg.port, "pid": pg.pid, "datadir": str(pg.datadir),
                             "bindir": str(pg.bindir), "user": pg.user}
        _write_json(state_path, state)
        print(f"postgres  {pg.url}", flush=True)
        chroma = start_chroma(directory, chroma_port)
        started.append(chroma)
        state["chroma"] = {"url": chroma.url, "host": chroma.host, "port": chroma.port, "pid": chroma.pid}
        _write_json(state_path, state)
        print(f"chroma    {chroma.url}", flush=True)
        env = {"WHOSAID_CATALOGUE_URL": pg.url, "WHOSAID_CHROMA__HOST": chroma.host,
               "WHOSAID_CHROMA__PORT": str(chroma.port)}
        serves: list[ServeProcess] = []
        for port in ports:
            serve = start_serve(directory / f"serve-{port}", port, env)
            started.append(serve)
            serves.append(serve)
            state["serves"].append({"url": serve.url, "port": port, "pid": serve.pid, "home": str(serve.home)})
            _write_json(state_path, state)
            print(f"serve     {serve.url}/chat", flush=True)
        print(f"stack up ({state_path}); Ctrl-C stops", file=sys.stderr, flush=True)
        while (gone := _first_gone(pg, chroma, serves)) is None:  # stay in the foreground
            time.sleep(1)
        print(f"error: {gone} exited; stopping the stack", file=sys.stderr)  # take the rest down rather than limp on
        code = 1
    except KeyboardInterrupt:
        pass
    except (ServerUnavailable, StartFailed) as e:
        print(f"error: {e}", file=sys.stderr)
        code = 1
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second SIGTERM must not cut the clean stop short
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        for server in reversed(started):
            try:
                server.stop()
            except Exception as e:  # keep stopping the others
                print(f"error: stopping {server!r}: {e}", file=sys.stderr)
        state_path.unlink(missing_ok=True)
        print("stack stopped", file=sys.stderr, flush=True)
    return code


def _kill_pid(pid: int, marker: str) -> None:
    """SIGTERM (then SIGKILL) ``pid`` if it is alive and its command line contains ``marker`` (a pid can be reused)."""
    if not pid or not _alive(pid) or marker not in _cmdline(pid):
        return
    os.kill(pid, signal.SIGTERM)
    try:
        wait_until(lambda: not _alive(pid), f"pid {pid}", timeout=STOP_TIMEOUT)
    except StartFailed:
        os.kill(pid, signal.SIGKILL)


def _down_leftovers(state: dict) -> None:
    """Stop the servers a stack.json names, without their ``up`` process (it was killed outright)."""
    for serve in state.get("serves", []):
        _kill_pid(serve.get("pid", 0), "whosaid")
    if chroma := state.get("chroma"):
        _kill_pid(chroma.get("pid", 0), "chroma")
    if pg := state.get("postgres"):
        _pg_ctl_stop(Path(pg["bindir"]), Path(pg["datadir"]), pg.get("user"))


def down(directory: Path) -> int:
    """Stop the stack described by ``directory/stack.json``: ask its ``up`` process to stop everything
    cleanly; if that process is gone, stop the servers it left."""
    directory = directory.resolve()
    state_path = directory / STACK_FILE
    if not state_path.exists():
        print(f"no stack running from {directory} (no {STACK_FILE})", file=sys.stderr)
        return 0
    state = json.loads(state_path.read_text())
    pid = state.get("pid", 0)
    if pid and _alive(pid) and "deploy.stack" in _cmdline(pid):
        os.kill(pid, signal.SIGTERM)
        try:
            wait_until(lambda: not _alive(pid), f"the stack's up process (pid {pid}) did not stop",
                       timeout=START_TIMEOUT)
        except StartFailed as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
    _down_leftovers(state)  # no-ops for anything already stopped
    state_path.unlink(missing_ok=True)
    print(f"stack in {directory} stopped", file=sys.stderr)
    return 0


def _ports(text: str) -> list[int]:
    try:
        ports = [int(p) for p in text.split(",") if p.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of ports: {text!r}") from None
    if not ports or any(not 0 < p < 65536 for p in ports):
        raise argparse.ArgumentTypeError(f"ports must be 1-65535: {text!r}")
    return ports


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.stack",
                                     description="Run PostgreSQL, a Chroma server and several whosaid serve processes "
                                                 "sharing them, all on 127.0.0.1.")
    sub = parser.add_subparsers(dest="command", required=True)
    p_up = sub.add_parser("up", help="start the stack and stay in the foreground until Ctrl-C or SIGTERM",
                          description="Start PostgreSQL, `chroma run` and one `whosaid serve` per port (each with its "
                                      "own WHOSAID_HOME under DIR, all sharing the catalogue and Chroma); print each "
                                      "service's URL, write DIR/stack.json, and stop everything on Ctrl-C or SIGTERM.")
    p_up.add_argument("--dir", type=Path, default=Path(".stack"), help="state directory (default: ./.stack)")
    p_up.add_argument("--pg-port", type=int, default=None, help="PostgreSQL port (default: a free one)")
    p_up.add_argument("--chroma-port", type=int, default=None, help="Chroma port (default: a free one)")
    p_up.add_argument("--ports", type=_ports, default=[7861, 7862],
                      help="comma-separated ports, one whosaid serve each (default: 7861,7862)")
    p_down = sub.add_parser("down", help="stop the stack described by DIR/stack.json",
                            description="Stop the stack described by DIR/stack.json (its up process stops everything "
                                        "cleanly; servers left by a killed up process are stopped directly).")
    p_down.add_argument("--dir", type=Path, default=Path(".stack"), help="state directory (default: ./.stack)")
    args = parser.parse_args(argv)
    if args.command == "up":
        return up(args.dir, args.pg_port, args.chroma_port, args.ports)
    return down(args.dir)


if __name__ == "__main__":
    sys.exit(main())
