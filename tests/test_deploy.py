"""The deploy/ recipes: configs load through the real spec loader, job scripts
and manifests are well-formed, the certificate script makes a working CA.

Running the recipes for real is tested elsewhere: Slurm in test_slurm.py, the
dask scheduler/worker recipe in test_scheduler.py, the PBS job array (with a
PBS environment faked by hand) in test_shard.py.
"""

from __future__ import annotations

import shutil
import ssl
import subprocess
import tomllib
from pathlib import Path

import dask.config
import pytest
import yaml

from sweep.cluster import jobqueue
from sweep.config import load_spec

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
CONFIGS = sorted(DEPLOY.glob("*/*.toml"))
SCRIPTS = sorted(p for pattern in ("*/*.sh", "*/*.sbatch", "*/*.pbs") for p in DEPLOY.glob(pattern))


def test_every_recipe_directory_has_a_readme_and_a_config():
    for name in ("slurm", "pbs", "dask", "kubernetes"):
        assert (DEPLOY / name / "README.md").is_file(), name
        assert (DEPLOY / name / "sweep.toml").is_file(), name
    assert (DEPLOY / "README.md").is_file()


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: str(p.relative_to(DEPLOY)))
def test_example_config_loads(path):
    spec = load_spec(path)
    recipe = path.parent.name
    expected_kind = {"slurm": "slurm", "pbs": "pbs", "dask": "address", "kubernetes": "address"}
    assert spec.cluster.kind == expected_kind[recipe]
    assert spec.n_points > 0
    if spec.cluster.kind in jobqueue.KINDS:
        script = jobqueue.job_script(spec.cluster)
        raw = tomllib.loads(path.read_text())["cluster"]["jobqueue"]
        assert f"-t {raw['walltime']}" in script or f"walltime={raw['walltime']}" in script
        assert "--lifetime " in script


def test_dask_recipe_tls_paths_are_relative_to_the_config():
    spec = load_spec(DEPLOY / "dask" / "sweep.toml")
    assert spec.cluster.tls == {
        key: str((DEPLOY / "dask" / "certs" / f"{key}.pem").resolve())
        for key in ("ca", "cert", "key")
    }


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: str(p.relative_to(DEPLOY)))
def test_shell_script_parses(path):
    result = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert path.read_text().startswith("#!/usr/bin/env bash\n")


@pytest.mark.parametrize("kind", jobqueue.KINDS)
def test_site_yaml_is_accepted_by_dask_jobqueue(kind):
    """deploy/jobqueue.yaml, loaded as dask config, fills what a config leaves out."""
    site = yaml.safe_load((DEPLOY / "jobqueue.yaml").read_text())
    # Merged key by key into the defaults, as dask merges ~/.config/dask/*.yaml.
    flat = {f"jobqueue.{kind}.{key}": value for key, value in site["jobqueue"][kind].items()}
    with dask.config.set(flat):
        script = jobqueue.job_script({"kind": kind, "jobqueue": {"python": "python"}})
    entry = site["jobqueue"][kind]
    lines = script.splitlines()
    assert "module load python/3.11" in lines
    assert any(entry["queue"] in line for line in lines if line.startswith("#"))
    assert f"--interface {entry['interface']}" in script
    # 02:00:00 walltime - default 5 min margin.
    assert "--lifetime 6900s" in script


def test_kubernetes_manifests_agree_on_the_scheduler_service():
    cluster = list(yaml.safe_load_all((DEPLOY / "kubernetes" / "cluster.yaml").read_text()))
    driver = list(yaml.safe_load_all((DEPLOY / "kubernetes" / "driver.yaml").read_text()))
    dask_cluster = next(d for d in cluster if d["kind"] == "DaskCluster")
    name = dask_cluster["metadata"]["name"]
    port = next(
        p["port"]
        for p in dask_cluster["spec"]["scheduler"]["service"]["ports"]
        if p["name"] == "tcp-comm"
    )
    address = f"tcp://{name}-scheduler:{port}"  # the operator names the service <name>-scheduler
    job = next(d for d in driver if d["kind"] == "Job")
    command = job["spec"]["template"]["spec"]["containers"][0]["command"]
    assert command[:2] == ["hopsweep", "run"]
    assert command[command.index("--scheduler") + 1] == address
    assert load_spec(DEPLOY / "kubernetes" / "sweep.toml").cluster.address == address
    autoscaler = next(d for d in cluster if d["kind"] == "DaskAutoscaler")
    assert autoscaler["spec"]["cluster"] == name


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl not installed")
def test_make_certs_script_makes_a_ca_and_a_certificate_it_signs(tmp_path):
    result = subprocess.run(
        ["bash", str(DEPLOY / "dask" / "make-certs.sh"), str(tmp_path), "localhost", "127.0.0.1"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    verify = subprocess.run(
        ["openssl", "verify", "-CAfile", str(tmp_path / "ca.pem"), str(tmp_path / "cert.pem")],
        capture_output=True,
        text=True,
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr
    # The key matches the certificate, and both load into TLS contexts as dask uses them.
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(tmp_path / "ca.pem"))
    server.load_cert_chain(str(tmp_path / "cert.pem"), str(tmp_path / "key.pem"))
    assert (tmp_path / "key.pem").stat().st_mode & 0o077 == 0, "private key readable by others"
