"""The Flink set-up's refusals, without a cluster: each is one line naming
what is wrong, where, and how to fix it; and how `--runner flink` maps onto
the pipeline's Beam arguments."""

import json
import socket
import subprocess
import sys

import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from noisy_rnn.pipeline.config import PipelineConfig
from noisy_rnn.pipeline.ops import flink_cluster
from noisy_rnn.pipeline.pipeline import (BEAM_COMPONENTS,
                                         DIRECT_RUNNER_ARGS, beam_args,
                                         beam_components, create_pipeline,
                                         is_direct)


def _free_port():
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def test_unreachable_master_says_where_and_how_to_fix():
    port = _free_port()
    with pytest.raises(flink_cluster.FlinkError,
                       match=f"Flink is not reachable at localhost:{port} "
                             f".*noisy-rnn flink start.*--flink-master"):
        flink_cluster.check_reachable(f"localhost:{port}", timeout=2)


def test_a_port_that_is_not_flink_is_named():
    server = socket.socket()
    server.bind(("localhost", 0))
    server.listen()
    address = f"localhost:{server.getsockname()[1]}"

    def answer():  # an HTTP server, but not Flink's REST API
        connection, _ = server.accept()
        connection.recv(1024)
        connection.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: application/"
                           b"json\r\n\r\n{\"hello\": 1}")
        connection.close()
    import threading
    thread = threading.Thread(target=answer)
    thread.start()
    with pytest.raises(flink_cluster.FlinkError,
                       match=f"{address} answers, but not as Flink"):
        flink_cluster.check_reachable(address, timeout=5)
    thread.join()
    server.close()


def test_master_without_a_port_is_refused():
    with pytest.raises(flink_cluster.FlinkError, match="expected HOST:PORT"):
        flink_cluster.check_reachable("flinkhost")


def test_missing_java_is_named(monkeypatch, tmp_path):
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "no-jdk"))
    with pytest.raises(flink_cluster.FlinkError,
                       match="Java not found.*JAVA_HOME.*openjdk-17"):
        flink_cluster.java_home()


def test_job_server_not_obtainable_without_maven(monkeypatch, tmp_path):
    monkeypatch.setenv("NOISY_RNN_FLINK_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("PATH", str(tmp_path))  # no mvn
    with pytest.raises(flink_cluster.FlinkError,
                       match="job server is not in .*Maven \\(mvn\\) is not "
                             "on PATH.*install maven"):
        flink_cluster.fetch_job_server(echo=lambda _: None)


def test_runner_flink_without_a_local_cluster_says_to_start_one(
        monkeypatch, tmp_path):
    monkeypatch.setenv("NOISY_RNN_FLINK_DIR", str(tmp_path))
    with pytest.raises(flink_cluster.FlinkError,
                       match="no local cluster.*noisy-rnn flink start"):
        flink_cluster.beam_args()


def test_cli_refuses_an_unreachable_master_in_one_line(tmp_path):
    port = _free_port()
    result = subprocess.run(
        [sys.executable, "-m", "noisy_rnn.pipeline.cli", "run",
         "--dataset", "japanese_vowels", "--output", str(tmp_path / "run"),
         "--runner", "flink", "--flink-master", f"localhost:{port}"],
        capture_output=True, text=True, check=False)
    assert result.returncode == 1
    assert result.stderr.startswith(f"error: Flink is not reachable at "
                                    f"localhost:{port}")
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()  # nothing ran, nothing pushed


def test_local_workers_need_no_worker_package_a_remote_runner_does(
        tmp_path):
    args = ["--runner=PortableRunner", "--job_endpoint=localhost:1",
            "--environment_type=EXTERNAL", "--environment_config=localhost:2"]
    local = PipelineConfig(dataset="japanese_vowels", output=str(tmp_path),
                           beam_pipeline_args=args, workers_local=True)
    assert beam_args(local) == args
    with pytest.raises(ValueError, match="PortableRunner's workers need"):
        beam_args(PipelineConfig(dataset="japanese_vowels",
                                 output=str(tmp_path),
                                 beam_pipeline_args=args))


def test_off_the_direct_runner_jobs_are_named_and_kept_ones_stay(
        tmp_path):
    config = PipelineConfig(dataset="japanese_vowels", output=str(tmp_path),
                            beam_pipeline_args=["--runner=PortableRunner"],
                            workers_local=True,
                            direct_components=["Evaluator"])
    beam = {c.id: c.executor_spec.beam_pipeline_args
            for c in beam_components(create_pipeline(config).components)}
    assert sorted(beam) == sorted(BEAM_COMPONENTS)
    for name, args in beam.items():
        # The pipeline's arguments first, then the component's: they win.
        assert args == ["--runner=PortableRunner",
                        f"--job_name=japanese_vowels-{name}"] + (
            list(DIRECT_RUNNER_ARGS) if name == "Evaluator" else [])
    options = PipelineOptions(beam["Evaluator"]).get_all_options()
    assert options["runner"] == "DirectRunner"
    assert options["environment_type"].startswith("beam:env:embedded")
    assert is_direct(beam["Evaluator"])
    direct = PipelineConfig(dataset="japanese_vowels", output=str(tmp_path))
    for component in beam_components(create_pipeline(direct).components):
        assert not component.executor_spec.beam_pipeline_args


def test_an_unknown_direct_component_is_named(tmp_path):
    config = PipelineConfig(dataset="japanese_vowels", output=str(tmp_path),
                            beam_pipeline_args=["--runner=PortableRunner"],
                            workers_local=True, direct_components=["Trainer"])
    with pytest.raises(ValueError, match="--direct-component Trainer: not a "
                                         "Beam component.*Evaluator"):
        create_pipeline(config)


def test_the_stage_nothing_option_reaches_the_job_server():
    """The Python SDK sends the job server only options it knows: the
    module makes Beam's Java option known (dropped, the job would stage
    ~150 MB of jars, the slow default)."""
    flag = (f"--{flink_cluster.StagingOptions.FLAG}="
            f"{flink_cluster.STAGE_NOTHING}")
    options = PipelineOptions([flag]).get_all_options()
    assert options[flink_cluster.StagingOptions.FLAG] == "noisyrnn.StageNothing"
    assert flink_cluster.STAGE_NOTHING_SOURCE.endswith("StageNothing.java")
    with open(flink_cluster.STAGE_NOTHING_SOURCE) as f:
        assert "public class StageNothing" in f.read()


def test_without_javac_jobs_stage_the_jars_and_the_run_says_so(
        monkeypatch, tmp_path):
    jre = tmp_path / "jre"  # a Java home without bin/javac
    (jre / "bin").mkdir(parents=True)
    monkeypatch.setattr(flink_cluster, "java_home", lambda: str(jre))
    monkeypatch.setenv("NOISY_RNN_FLINK_DIR", str(tmp_path / "cache"))
    said = []
    assert flink_cluster.stage_nothing_jar(echo=said.append) is None
    assert said == [f"no javac in {jre}: each Flink job stages Beam's jars "
                    f"(~150 MB) instead (a JDK, not a JRE, avoids it)"]


def test_the_cluster_classpath_leaves_flink_and_logging_jars_out(
        monkeypatch, tmp_path):
    monkeypatch.setenv("NOISY_RNN_FLINK_DIR", str(tmp_path))
    deps = tmp_path / f"beam-job-server-{flink_cluster.JOB_SERVER_VERSION}" \
        / "deps"
    deps.mkdir(parents=True)
    for name in ("beam-runners-flink-1.19-2.62.0.jar", "flink-core-1.19.0.jar",
                 "slf4j-simple-1.7.30.jar", "guava-33.3.1-android.jar",
                 "README.txt"):
        (deps / name).touch()
    assert flink_cluster._cluster_classpath().split(":") == [
        str(deps / "beam-runners-flink-1.19-2.62.0.jar"),
        str(deps / "guava-33.3.1-android.jar")]


def test_cluster_ports_are_free_and_outside_the_ephemeral_range(
        monkeypatch, tmp_path):
    """A port chosen now and bound seconds later must not be handed to a
    client meanwhile: none from the kernel's ephemeral range, and a saved
    one from that range (an older start's) is replaced."""
    monkeypatch.setenv("NOISY_RNN_FLINK_DIR", str(tmp_path))
    (tmp_path / "cluster").mkdir()
    ephemeral = flink_cluster._ephemeral_ports()
    (tmp_path / "cluster" / "ports.json").write_text(json.dumps(
        {name: ephemeral.start + i
         for i, name in enumerate(flink_cluster.PORT_NAMES)}))
    ports = flink_cluster._cluster_ports()
    assert sorted(ports) == sorted(flink_cluster.PORT_NAMES)
    assert len(set(ports.values())) == len(ports)
    assert not any(port in ephemeral for port in ports.values())
    assert flink_cluster._cluster_ports() == ports  # kept while free


def test_a_server_that_exits_at_start_is_named_with_its_error(tmp_path):
    log = tmp_path / "job-server.log"
    log.write_text("starting\njava.io.IOException: Failed to bind to address "
                   "localhost/127.0.0.1:46185\n\tat x.y(Z.java:1)\n")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    with pytest.raises(flink_cluster.FlinkError,
                       match="Beam's job server exited at start "
                             "\\(java.io.IOException: Failed to bind"):
        flink_cluster._wait("Beam's job server", lambda: False, str(log),
                            seconds=30, pid=dead.pid)
