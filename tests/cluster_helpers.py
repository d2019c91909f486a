"""Real cluster processes for the scheduler, Slurm, shard and fault tests.

- :func:`make_tls_files`: a self-signed CA and one certificate it signs (for
  127.0.0.1 / localhost), written as PEM files.
- :class:`DaskProcesses`: a ``dask scheduler`` and ``dask worker`` processes on
  127.0.0.1, as real subprocesses (directly or through deploy/dask), optionally
  over TLS.
- :func:`require_slurm`: skip with a visible reason when Slurm is missing, but
  fail under ``CI=true`` (the CI entry point starts Slurm, so missing is a bug);
  :class:`JobWatcher` follows jobs in ``squeue``.
- :func:`hopsweep`, :func:`hopsweep_popen`: the ``hopsweep`` command as a subprocess.
- :func:`reference`, :func:`assert_same_results`: the local run of a sweep, and
  the check that a store made another way agrees with it.
- :func:`slow_env`: make Dask workers sleep before each task (tests/slow_tasks.py),
  so faults can be injected mid-sweep without loading the CPU.
- :func:`pseudo_terminal`: a real pty of a given width, for progress output.
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import ipaddress
import json
import os
import pty
import shutil
import signal
import struct
import subprocess
import sys
import termios
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from sweep.cluster.environment import WORKER_ENVIRONMENT
from sweep.schema import GRID

#: Environment of every process a test starts: one BLAS and one Numba thread
#: (2 shared cores), and a short lost-worker timeout so adaptive clusters replace
#: a killed worker job within seconds (default 15 s).
PROCESS_ENV = {
    **WORKER_ENVIRONMENT,
    "DASK_DISTRIBUTED__DEPLOY__LOST_WORKER_TIMEOUT": "1s",
}

#: Seconds to wait for a scheduler file / workers to appear (process start plus imports).
STARTUP_TIMEOUT = 60.0

#: Seconds any hopsweep command run by a test may take before it is killed.
COMMAND_TIMEOUT = 240.0

#: Seconds to wait for `sinfo` to answer before declaring Slurm unresponsive.
SLURM_PING_TIMEOUT = 15.0


#: Task delay of :func:`slow_env`, s: 40 tasks then take 4 s on two workers.
SLOW_TASK_SECONDS = 0.2

SLOW_TASKS = Path(__file__).resolve().parent / "slow_tasks.py"


def env() -> dict[str, str]:
    """The test process environment plus ``PROCESS_ENV``."""
    return {**os.environ, **PROCESS_ENV}


def slow_env(delay: float = SLOW_TASK_SECONDS) -> dict[str, str]:
    """Environment variables making every task of a Dask worker sleep ``delay`` s first.

    Workers preload tests/slow_tasks.py; worker jobs of a Slurm driver inherit it.
    """
    return {
        "DASK_DISTRIBUTED__WORKER__PRELOAD": json.dumps([str(SLOW_TASKS)]),
        "HOPSWEEP_TEST_TASK_DELAY": str(delay),
    }


# ----------------------------------------------------------------------------- TLS


@dataclass(frozen=True)
class TLSFiles:
    """PEM files: a CA and one certificate (with key) the CA signed."""

    ca: Path
    cert: Path
    key: Path


def make_tls_files(directory: Path) -> TLSFiles:
    """Write a self-signed CA and a certificate for 127.0.0.1 / localhost it signs.

    The one certificate serves the scheduler, the workers and the client (it is
    valid for both server and client authentication), which is enough to test
    that every connection is encrypted and verified against the CA.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.UTC)
    validity = (now - datetime.timedelta(minutes=5), now + datetime.timedelta(days=1))

    def builder(subject: str, issuer: str, public_key) -> x509.CertificateBuilder:
        return (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(validity[0])
            .not_valid_after(validity[1])
        )

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        builder("hopsweep test CA", "hopsweep test CA", ca_key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        builder("localhost", "hopsweep test CA", key.public_key())
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    files = TLSFiles(directory / "ca.pem", directory / "cert.pem", directory / "key.pem")
    files.ca.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    files.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return files


# ------------------------------------------------------------------ dask processes


def _tls_args(tls: TLSFiles | None) -> list[str]:
    if tls is None:
        return []
    return ["--tls-ca-file", str(tls.ca), "--tls-cert", str(tls.cert), "--tls-key", str(tls.key)]


def _stop(process: subprocess.Popen) -> None:
    """Stop a process this module started, and its children (own session)."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


DASK_RECIPE = Path(__file__).resolve().parents[1] / "deploy" / "dask"


@dataclass
class DaskProcesses:
    """A ``dask scheduler`` and ``dask worker`` processes on 127.0.0.1.

    With ``recipe=True`` they are started through deploy/dask/start-scheduler.sh
    and start-worker.sh (the documented recipe), otherwise with ``python -m dask``.
    Use as a context manager; everything started is stopped on exit.
    """

    directory: Path
    n_workers: int = 2
    tls: TLSFiles | None = None
    worker_args: tuple[str, ...] = ()
    extra_env: dict[str, str] = field(default_factory=dict)
    recipe: bool = False
    address: str = ""
    scheduler: subprocess.Popen | None = None
    workers: list[subprocess.Popen] = field(default_factory=list)

    def _spawn(self, command: list[str], log: str, extra: dict[str, str]) -> subprocess.Popen:
        with open(self.directory / log, "wb") as out:
            return subprocess.Popen(
                command,
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**env(), **self.extra_env, **extra},
                cwd=self.directory,
                start_new_session=True,
            )

    def _recipe_env(self) -> dict[str, str]:
        tls = {"TLS_DIR": str(self.tls.ca.parent)} if self.tls else {}
        return {"PYTHON": sys.executable, **tls}

    def __enter__(self) -> DaskProcesses:
        self.directory.mkdir(parents=True, exist_ok=True)
        scheduler_file = self.directory / "scheduler.json"
        if self.recipe:
            command = ["bash", str(DASK_RECIPE / "start-scheduler.sh"), "127.0.0.1", "0"]
            extra = {
                **self._recipe_env(),
                "SCHEDULER_FILE": str(scheduler_file),
                "DASHBOARD": "127.0.0.1:0",
            }
        else:
            protocol = "tls" if self.tls else "tcp"
            command = [
                sys.executable,
                "-m",
                "dask",
                "scheduler",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--protocol",
                protocol,
                "--dashboard-address",
                "127.0.0.1:0",
                "--scheduler-file",
                str(scheduler_file),
                *_tls_args(self.tls),
            ]
            extra = {}
        self.scheduler = self._spawn(command, "scheduler.log", extra)
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not scheduler_file.exists():
            if self.scheduler.poll() is not None or time.monotonic() > deadline:
                self.__exit__()
                raise RuntimeError(f"dask scheduler did not start: {self.log('scheduler.log')}")
            time.sleep(0.1)
        time.sleep(0.1)  # the file is written in one go, but let the write finish
        self.address = json.loads(scheduler_file.read_text())["address"]
        for i in range(self.n_workers):
            self.add_worker(f"w{i}")
        self.wait_for_workers(self.n_workers)
        return self

    def add_worker(self, name: str, extra_args: tuple[str, ...] = ()) -> subprocess.Popen:
        """Start one more single-threaded ``dask worker`` (with a nanny)."""
        args = ("--name", name, "--host", "127.0.0.1", *self.worker_args, *extra_args)
        if self.recipe:
            command = ["bash", str(DASK_RECIPE / "start-worker.sh"), self.address, "1"]
            extra = {**self._recipe_env(), "WORKER_OPTIONS": " ".join(args)}
        else:
            command = [
                sys.executable,
                "-m",
                "dask",
                "worker",
                self.address,
                "--nthreads",
                "1",
                "--nworkers",
                "1",
                "--no-dashboard",
                *_tls_args(self.tls),
                *args,
            ]
            extra = {}
        worker = self._spawn(command, f"worker-{name}.log", extra)
        self.workers.append(worker)
        return worker

    def security(self):
        """``distributed.Security`` for a client of this scheduler (None without TLS)."""
        if self.tls is None:
            return None
        from distributed import Security

        return Security(
            tls_ca_file=str(self.tls.ca),
            tls_client_cert=str(self.tls.cert),
            tls_client_key=str(self.tls.key),
            require_encryption=True,
        )

    def client(self):
        """A ``distributed.Client`` connected to the scheduler."""
        from distributed import Client

        return Client(self.address, security=self.security(), timeout=STARTUP_TIMEOUT)

    def wait_for_workers(self, n: int) -> None:
        with self.client() as client:
            client.wait_for_workers(n, timeout=STARTUP_TIMEOUT)

    def log(self, name: str) -> str:
        path = self.directory / name
        return path.read_text(errors="replace")[-3000:] if path.exists() else "(no log)"

    def __exit__(self, *exc) -> None:
        for worker in self.workers:
            _stop(worker)
        if self.scheduler is not None:
            _stop(self.scheduler)


# ---------------------------------------------------------------------------- Slurm


def slurm_problem() -> str | None:
    """Why Slurm cannot be used here, or None when ``sinfo`` answers with a partition."""
    if shutil.which("sinfo") is None:
        return "`sinfo` not found"
    try:
        answer = subprocess.run(
            ["sinfo", "-h", "-o", "%P %a"],
            capture_output=True,
            text=True,
            timeout=SLURM_PING_TIMEOUT,
        )
    except subprocess.TimeoutExpired:
        return f"`sinfo` did not answer within {SLURM_PING_TIMEOUT:g} s"
    if answer.returncode != 0 or "up" not in answer.stdout:
        return f"`sinfo` failed or shows no partition up: {answer.stderr.strip() or answer.stdout}"
    return None


def require_slurm() -> None:
    """Skip (with the reason) without Slurm; under ``CI=true`` fail instead."""
    problem = slurm_problem()
    if problem is None:
        return
    message = f"Slurm unavailable: {problem} (start it with: bash ../shared/slurm/start-slurm.sh)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{message}; CI=true requires Slurm", pytrace=False)
    pytest.skip(message)


def squeue(name: str) -> list[tuple[str, str]]:
    """(job id, state) of the queued and running jobs called ``name``."""
    out = subprocess.run(
        ["squeue", "-h", "-n", name, "-o", "%i %T"],
        capture_output=True,
        text=True,
        check=True,
        timeout=SLURM_PING_TIMEOUT,
    ).stdout
    return [tuple(line.split()) for line in out.splitlines() if line.strip()]


def scancel_name(name: str) -> None:
    """Cancel the jobs called ``name`` (test cleanup)."""
    subprocess.run(["scancel", "-n", name], timeout=SLURM_PING_TIMEOUT, check=False)


#: Names of the Slurm jobs the tests make: dask-jobqueue workers (sweep.cluster.jobqueue.JOB_NAME)
#: and the deploy/slurm driver and array jobs.
JOB_NAMES = ("hopsweep-worker", "hopsweep-driver", "hopsweep-shard")


def clean_slurm_queue() -> None:
    """Cancel the tests' jobs and wait until ``squeue`` lists none of them.

    Cancelled jobs stay in ``squeue`` (COMPLETING) for seconds; waiting keeps one
    test's jobs out of the next test's ``squeue`` observations.
    """
    for name in JOB_NAMES:
        scancel_name(name)
    for name in JOB_NAMES:
        JobWatcher(name).wait_gone()


# ------------------------------------------------------------------------- hopsweep


#: ``python -c`` program running the hopsweep CLI after loading tests/slow_tasks.py
#: (for shard processes, which have no Dask worker to preload it).
_SLOW_CLI = (
    "import sys; sys.path.insert(0, {tests!r}); import slow_tasks; "
    "from sweep.cli import main; sys.exit(main(sys.argv[1:]))"
)


def _command(args: tuple[str, ...], slow: bool) -> list[str]:
    if slow:
        return [sys.executable, "-c", _SLOW_CLI.format(tests=str(SLOW_TASKS.parent)), *args]
    return [sys.executable, "-m", "sweep", *args]


def hopsweep(
    *args: str,
    cwd: Path,
    timeout: float = COMMAND_TIMEOUT,
    extra_env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess:
    """Run ``python -m sweep ARGS`` (the ``hopsweep`` command) and capture its output."""
    return subprocess.run(
        _command(args, slow=False),
        capture_output=True,
        text=True,
        env={**env(), **(extra_env or {})},
        cwd=cwd,
        timeout=timeout,
    )


def hopsweep_popen(
    *args: str,
    cwd: Path,
    log: Path,
    extra_env: dict[str, str] | None = None,
    slow: bool = False,
) -> subprocess.Popen:
    """Start ``hopsweep ARGS`` in its own session, output to ``log``.

    ``slow=True`` loads tests/slow_tasks.py into this process first (shards).
    """
    with open(log, "wb") as out:
        process = subprocess.Popen(
            _command(args, slow),
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**env(), **(extra_env or {})},
            cwd=cwd,
            start_new_session=True,
        )
    _STARTED.append(process)
    return process


#: What :func:`hopsweep_popen` started, for :func:`stop_started`.
_STARTED: list[subprocess.Popen] = []


def stop_started() -> None:
    """Stop every process :func:`hopsweep_popen` started that still runs, and its
    children: after a test (conftest), so that a failed assertion leaves no sweep
    running, e.g. a Slurm driver holding worker jobs into the next test."""
    while _STARTED:
        _stop(_STARTED.pop())


def run_args(config: Path, store: Path, *options: str) -> tuple[str, ...]:
    """Arguments of ``hopsweep run CONFIG --store STORE OPTIONS...``.

    For :func:`hopsweep` and :func:`hopsweep_popen`, e.g.
    ``hopsweep(*run_args(config, store, "--workers", "2"), cwd=...)``.
    """
    return ("run", str(config), "--store", str(store), *options)


# ------------------------------------------------------------------ sweeps, results

#: A tiny sweep: 8 tasks (one per (N, alpha); all 3 seeds in one block), 120 points,
#: about a second of float64 TAP, in the retrieval region where TAP converges (so
#: results can be compared across run modes). Used where no fault is injected.
TINY = """
name = "tiny"
root_seed = 2017

[grid]
algorithm = ["tap"]
N = [50, 80]
alpha = [0.03, 0.05, 0.07, 0.09]
T = { start = 0.05, stop = 0.45, num = 5 }
seed = 3

[solver]
max_iter = 300
"""

#: The sweep of the fault tests: 40 tasks (about a second of compute on two
#: workers); with :func:`slow_env` each task first sleeps SLOW_TASK_SECONDS, so the
#: sweep lasts about 4 s and a fault injected when the first result lands hits a
#: sweep far from done.
LONG = """
name = "long"
root_seed = 2017

[grid]
algorithm = ["tap"]
N = [100, 200]
alpha = { start = 0.02, stop = 0.1, num = 20 }
T = { start = 0.05, stop = 0.45, num = 5 }
seed = 4

[solver]
max_iter = 300
"""

#: Variables that must agree between run modes (``wall_time`` differs by nature).
#: Every per-point variable of the schema but ``wall_time`` (a measured duration,
#: different in every run).
COMPARED = tuple(name for name in GRID.variables if name != "wall_time")

#: Seconds between two looks at a store's progress.
POLL_INTERVAL = 0.05


def write_config(directory: Path, sweep: str, cluster: str = "", name: str = "sweep.toml") -> Path:
    """Write ``sweep`` (+ a ``[cluster]`` section) as a config file in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(sweep + cluster)
    return path


def local_run(directory: Path, sweep: str) -> Path:
    """Run ``sweep`` with a plain two-worker ``hopsweep run`` in ``directory``; its store.

    This run is the reference every other run mode must reproduce.
    """
    config = write_config(directory, sweep)
    store = directory / "reference.zarr"
    done = hopsweep(*run_args(config, store, "--workers", "2"), cwd=directory)
    assert done.returncode == 0, done.stdout + done.stderr
    return store


_REFERENCES: dict[str, object] = {}


def reference(sweep: str):
    """The dataset of ``sweep`` from a plain local ``hopsweep run`` (once per session).

    Returns an in-memory ``xarray.Dataset``: every other run mode must reproduce it.
    """
    if sweep not in _REFERENCES:
        import tempfile

        import xarray as xr

        directory = Path(tempfile.mkdtemp(prefix="hopsweep-reference-"))
        with xr.open_zarr(local_run(directory, sweep)) as ds:
            _REFERENCES[sweep] = ds.load()
        shutil.rmtree(directory, ignore_errors=True)
    return _REFERENCES[sweep]


def assert_same_results(store: Path, sweep: str) -> None:
    """Every point of ``store`` is done and bit-identical to the local run of ``sweep``.

    Exact equality is the right test: every mode runs the same deterministic
    float64 code with one BLAS thread on this machine, so any difference is a
    lost, misplaced or corrupted chunk (NaN compares equal to NaN here).
    """
    import xarray as xr

    expected = reference(sweep)
    with xr.open_zarr(store) as ds:
        got = ds.load()
    assert int((got.status == 4).sum()) == 0, got["error"].values
    assert_same_points(got, expected)


def assert_same_points(got, expected) -> None:
    """``got`` is a store of the same spec as ``expected``, complete and bit-identical.

    Both are ``xarray.Dataset``; every :data:`COMPARED` variable must be equal
    point for point (NaN compares equal to NaN).
    """
    import numpy as np

    assert got.attrs["spec_hash"] == expected.attrs["spec_hash"]
    assert int((got.status == 0).sum()) == 0, "points left pending"
    for name in COMPARED:
        np.testing.assert_array_equal(got[name].values, expected[name].values, err_msg=name)


def done_fraction(store: Path) -> float:
    """Fraction of points of ``store`` with a result (0 while it does not exist)."""
    import zarr

    try:
        status = zarr.open_group(str(store), mode="r", use_consolidated=False)["status"][...]
    except Exception:  # not created yet, or a chunk caught mid-write: look again later
        return 0.0
    return float((status != 0).mean())


def wait_for_progress(
    store: Path, process: subprocess.Popen, timeout: float = STARTUP_TIMEOUT
) -> float:
    """Wait until some, not all, points of ``store`` are done; return the fraction done.

    Fails if the process ends or the whole sweep completes first (the fault would
    then hit nothing).
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        fraction = done_fraction(store)
        if 0.0 < fraction < 1.0:
            return fraction
        assert fraction < 1.0, "the sweep finished before the fault could be injected"
        assert process.poll() is None, f"process ended early with {process.returncode}"
        time.sleep(POLL_INTERVAL)
    raise AssertionError(f"no progress in {timeout:g} s")


def slurm_cluster(
    walltime: str = "00:10:00", margin: str = "2m", stagger: str = "10s", maximum: int = 2
) -> str:
    """A ``[cluster]`` section for the single-node test Slurm (same python, loopback).

    Workers get ``--lifetime = walltime - margin`` (+/- ``stagger``).
    """
    return f"""
[cluster]
kind = "slurm"
workers = {maximum}

[cluster.jobqueue]
cores = 1
memory = "1GB"
processes = 1
walltime = "{walltime}"
queue = "debug"
interface = "lo"
python = "{sys.executable}"
lifetime_margin = "{margin}"
lifetime_stagger = "{stagger}"

[cluster.adapt]
minimum = 0
maximum = {maximum}
"""


class JobWatcher:
    """Polls ``squeue`` for jobs called ``name`` and remembers every job id seen running."""

    def __init__(self, name: str):
        self.name = name
        self.running: set[str] = set()

    def poll(self) -> list[tuple[str, str]]:
        jobs = squeue(self.name)
        self.running |= {job for job, state in jobs if state == "RUNNING"}
        return jobs

    def wait_while(self, process: subprocess.Popen, timeout: float = COMMAND_TIMEOUT) -> int:
        """Poll until ``process`` ends; return its exit code."""
        deadline = time.monotonic() + timeout
        while process.poll() is None:
            assert time.monotonic() < deadline, f"still running after {timeout:g} s"
            self.poll()
            time.sleep(POLL_INTERVAL * 4)
        return process.returncode

    def wait_gone(self, jobs: set[str] | None = None, timeout: float = STARTUP_TIMEOUT) -> None:
        """Wait until none of ``jobs`` (default: any job of this name) is queued or running."""
        deadline = time.monotonic() + timeout
        while True:
            left = {job for job, _ in self.poll() if jobs is None or job in jobs}
            if not left:
                return
            assert time.monotonic() < deadline, f"jobs {sorted(left)} still there"
            time.sleep(POLL_INTERVAL * 4)


@contextlib.contextmanager
def pseudo_terminal(columns: int):
    """A real pty of ``columns`` columns: (text stream on its terminal side, reader of
    what was written to it)."""
    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    os.set_blocking(controller, False)
    stream = os.fdopen(terminal, "w")

    def written() -> str:
        stream.flush()
        chunks = []
        while True:
            try:
                chunks.append(os.read(controller, 65536))
            except BlockingIOError:
                return b"".join(chunks).decode(errors="replace")

    try:
        yield stream, written
    finally:
        stream.close()
        os.close(controller)
