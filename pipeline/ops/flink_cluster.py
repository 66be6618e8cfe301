"""A local Apache Flink cluster for the pipeline's Beam components
(`noisy-rnn flink start|stop|status`), and the Beam arguments that run them
on it or on an existing cluster (`beam_args`).

No Docker: Flink 1.19.3 comes from PyPI (``apache-flink`` holds bin/ and
conf/, ``apache-flink-libraries`` the jars), downloaded with ``pip download
--no-deps`` and unpacked into a FLINK_HOME in the cache, never installed
(both pin an old apache-beam). Beam's Flink job server comes from Maven
Central (the pinned ``flink/pom.xml``). Started, all on loopback:

- a JobManager and a TaskManager (2 slots), separate JVMs (Flink's scripts);
- Beam's Flink job server (``FlinkJobServerDriver``), which translates the
  pipelines the SDK submits into Flink jobs;
- a Python SDK worker pool (``worker_pool_main``) from this environment: the
  EXTERNAL environment Flink's tasks hand their Python work to. Its workers
  import the installed ``noisy_rnn``: they need no worker package.

Everything lives under `cache_dir()` (downloads, FLINK_HOME, the job server's
jars, logs, ``cluster.json`` with the endpoints). Errors are `FlinkError`:
one line saying what, where and how to fix it.
"""

import argparse
import hashlib
import http.client
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import time
import urllib.error
import urllib.request
import zipfile

from apache_beam.options.pipeline_options import PipelineOptions

FLINK_VERSION = "1.19.3"
# Downloads checked against these (PyPI's published digests).
FLINK_SHA256 = {
    f"apache_flink-{FLINK_VERSION}-cp310-cp310-manylinux_2_5_x86_64."
    "manylinux1_x86_64.manylinux_2_17_x86_64.manylinux2014_x86_64.whl":
    "f1c0d2c0245bc0ad2c5ce5bb1b7dfe719410724342671267abfba5190e1827f4",
    f"apache-flink-libraries-{FLINK_VERSION}.tar.gz":
    "4a58e3a1fb7d83340bc96b6c080624c6d792d69fae5d294b96224775204a9c60",
}
# Beam's Flink runner for Flink 1.19; see flink/pom.xml for why 2.62.0.
JOB_SERVER_VERSION = "2.62.0"
POM = os.path.join(os.path.dirname(os.path.abspath(__file__)), "flink",
                   "pom.xml")
SLOTS = 2
# How long an idle Python worker is kept for a job's next stage (Beam's
# --environment_cache_millis; 0, its default, starts one, importing
# TensorFlow, per stage: JapaneseVowels on this cluster 258 -> 207 s with
# 120 s). Jobs staging no jar follow each other within seconds, and
# workers kept 120 s ran beside the next jobs' (1-3 GB each): short config,
# peak memory x1 8.9 GB, x50 12.2 GB; with 15 s 6.6 and 8.1 GB, wall 76
# and 105 s against 66 and 112 s (one run each; 5 s: 72 and 102 s, 6.6 and
# 9.3 GB).
ENVIRONMENT_CACHE_MS = 15_000
STATE_FILE = "cluster.json"
READY_SECONDS = 90
# Jobs on the local cluster stage no jar (see flink/StageNothing.java): the
# cluster's JVMs have the job server's jars on their classpath, but those
# Flink's own distribution holds (its jars, ``flink-*``) and a second
# logging binding (``slf4j-*``).
STAGE_NOTHING = "noisyrnn.StageNothing"
STAGE_NOTHING_SOURCE = os.path.join(os.path.dirname(POM), "StageNothing.java")
NOT_ON_CLUSTER_CLASSPATH = ("flink-", "slf4j-")


class FlinkError(RuntimeError):
    """A readable, one-line reason the cluster cannot be used."""


def cache_dir():
    """``$NOISY_RNN_FLINK_DIR``, else ``~/.cache/noisy-rnn/flink`` (or
    under ``$XDG_CACHE_HOME``)."""
    if os.environ.get("NOISY_RNN_FLINK_DIR"):
        return os.path.abspath(os.environ["NOISY_RNN_FLINK_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return os.path.join(base, "noisy-rnn", "flink")


def _cluster_dir():
    return os.path.join(cache_dir(), "cluster")


def _flink_home():
    return os.path.join(cache_dir(), f"flink-{FLINK_VERSION}")


def _job_server_dir():
    return os.path.join(cache_dir(), f"beam-job-server-{JOB_SERVER_VERSION}")


def job_server_jar():
    """The job server as one runnable jar (its manifest lists the
    dependency jars beside it): ``java -jar`` or Beam's
    ``--flink_job_server_jar``."""
    return os.path.join(_job_server_dir(), "job-server.jar")


# ---------------------------------------------------------------- Java

def java_home():
    """A Java 11+ home: ``$JAVA_HOME``, else the one of ``java`` on PATH.
    FlinkError if there is none."""
    home = os.environ.get("JAVA_HOME")
    java = os.path.join(home, "bin", "java") if home else shutil.which("java")
    if not java or not os.access(java, os.X_OK):
        raise FlinkError(
            "Java not found (JAVA_HOME unset or wrong, no java on PATH): "
            "Flink and Beam's job server need Java 11 or 17, e.g. 'apt-get "
            "install openjdk-17-jdk-headless'")
    java = os.path.realpath(java)
    out = subprocess.run([java, "-version"], capture_output=True, text=True,
                         check=False).stderr
    try:
        version = out.split('"')[1]
        major = int(version.split(".")[0 if not version.startswith("1.")
                                        else 1])
    except (IndexError, ValueError):
        raise FlinkError(f"{java} -version: cannot read a version from "
                         f"{out.strip()[:80]!r}") from None
    if major < 11:
        raise FlinkError(f"{java} is Java {version}: Flink 1.19 needs Java "
                         f"11 or 17 (set JAVA_HOME)")
    return os.path.dirname(os.path.dirname(java))


# ---------------------------------------------------------------- downloads

def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _download_flink(echo):
    """The two PyPI files, checked against `FLINK_SHA256`; cached."""
    downloads = os.path.join(cache_dir(), "downloads")
    paths = {name: os.path.join(downloads, name) for name in FLINK_SHA256}
    if not all(os.path.isfile(p) for p in paths.values()):
        echo(f"downloading Flink {FLINK_VERSION} from PyPI (apache-flink, "
             f"apache-flink-libraries; ~240 MB, once)")
        command = [sys.executable, "-m", "pip", "download", "--no-deps",
                   "--disable-pip-version-check", "--quiet", "-d", downloads,
                   f"apache-flink=={FLINK_VERSION}",
                   f"apache-flink-libraries=={FLINK_VERSION}"]
        result = subprocess.run(command, capture_output=True, text=True,
                                check=False)
        if result.returncode:
            last = (result.stderr.strip().splitlines() or ["?"])[-1]
            raise FlinkError(f"pip download of Flink {FLINK_VERSION} into "
                             f"{downloads} failed ({last}): check access "
                             f"to PyPI (pip config, proxy)")
    for name, path in paths.items():
        if not os.path.isfile(path):
            raise FlinkError(f"{path}: not downloaded (PyPI served another "
                             f"file name): delete {downloads} and retry")
        if _sha256(path) != FLINK_SHA256[name]:
            os.remove(path)
            raise FlinkError(f"{path}: sha256 mismatch (removed): retry "
                             f"the download")
    return paths


def _assemble_flink_home(echo):
    """FLINK_HOME from the wheel's bin/ and conf/ and the sdist's lib/,
    opt/, plugins/ (and bash-java-utils.jar, which the scripts need)."""
    home = _flink_home()
    if os.path.isfile(os.path.join(home, ".complete")):
        return home
    paths = _download_flink(echo)
    echo(f"assembling {home}")
    shutil.rmtree(home, ignore_errors=True)
    os.makedirs(os.path.join(home, "log"))
    wheel = next(p for n, p in paths.items() if n.endswith(".whl"))
    with zipfile.ZipFile(wheel) as archive:
        for member in archive.namelist():
            for folder in ("bin", "conf"):
                prefix = f"pyflink/{folder}/"
                if member.startswith(prefix) and not member.endswith("/"):
                    target = os.path.join(home, folder,
                                          member[len(prefix):])
                    os.makedirs(os.path.dirname(target), exist_ok=True)
                    with archive.open(member) as src, \
                            open(target, "wb") as dst:
                        shutil.copyfileobj(src, dst)
    sdist = next(p for n, p in paths.items() if n.endswith(".tar.gz"))
    prefix = f"apache-flink-libraries-{FLINK_VERSION}/deps/"
    with tarfile.open(sdist) as archive:
        for member in archive.getmembers():
            if not member.isfile() or not member.name.startswith(prefix):
                continue
            relative = member.name[len(prefix):]
            if relative.split("/")[0] not in ("lib", "opt", "plugins",
                                                "bin"):
                continue
            target = os.path.join(home, relative)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with archive.extractfile(member) as src, \
                    open(target, "wb") as dst:
                shutil.copyfileobj(src, dst)
    for name in os.listdir(os.path.join(home, "bin")):
        os.chmod(os.path.join(home, "bin", name), 0o755)
    shutil.copy(os.path.join(home, "conf", "config.yaml"),
                os.path.join(home, "conf", "config.yaml.dist"))
    open(os.path.join(home, ".complete"), "w").close()
    return home


def fetch_job_server(echo=print):
    """`job_server_jar`, building it on first use: Maven copies the pinned
    pom's runtime dependencies next to it. FlinkError without Maven or
    when an artifact is not obtainable."""
    jar = job_server_jar()
    if os.path.isfile(jar):
        return jar
    mvn = shutil.which("mvn")
    if not mvn:
        raise FlinkError(
            f"Beam's Flink job server is not in {_job_server_dir()} and "
            f"Maven (mvn) is not on PATH to fetch it from Maven Central: "
            f"install maven, or copy a built {os.path.basename(jar)} and "
            f"its deps/ there")
    folder = _job_server_dir()
    deps = os.path.join(folder, "deps")
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    echo(f"fetching Beam's Flink job server {JOB_SERVER_VERSION} from Maven "
         f"Central (~150 MB, once)")
    result = subprocess.run(
        [mvn, "-B", "-q", "-f", POM, "dependency:copy-dependencies",
         f"-DoutputDirectory={deps}", "-DincludeScope=runtime"],
        capture_output=True, text=True, check=False,
        env=dict(os.environ, JAVA_HOME=java_home()))
    if result.returncode:
        errors = [line for line in result.stdout.splitlines()
                  if line.startswith("[ERROR]")] or ["?"]
        raise FlinkError(
            f"Maven could not fetch the job server pinned in {POM} "
            f"({errors[0][8:][:200]}): check access to Maven Central "
            f"(~/.m2/settings.xml mirror, proxy)")
    jars = sorted(os.listdir(deps))
    manifest = ("Manifest-Version: 1.0\nMain-Class: "
                "org.apache.beam.runners.flink.FlinkJobServerDriver\n")
    class_path = " ".join(f"deps/{name}" for name in jars)
    # Manifest lines are at most 72 bytes; continuations start with a space.
    line, lines = "Class-Path: " + class_path, []
    while len(line) > 70:
        lines.append(line[:70])
        line = " " + line[70:]
    manifest += "\n".join(lines + [line]) + "\n"
    with zipfile.ZipFile(jar + ".tmp", "w") as archive:
        archive.writestr("META-INF/MANIFEST.MF", manifest)
    os.replace(jar + ".tmp", jar)
    return jar


def stage_nothing_jar(echo=print):
    """The jar of `STAGE_NOTHING` beside the job server's, compiled from
    ``flink/StageNothing.java`` with the JDK's ``javac`` on first use; None
    (jobs then stage the job server's jars, as Beam does by default) where
    there is no ``javac`` or it fails."""
    jar = os.path.join(_job_server_dir(), "stage-nothing.jar")
    if os.path.isfile(jar):
        return jar
    javac = os.path.join(java_home(), "bin", "javac")
    if not os.access(javac, os.X_OK):
        echo(f"no javac in {java_home()}: each Flink job stages Beam's "
             f"jars (~150 MB) instead (a JDK, not a JRE, avoids it)")
        return None
    deps = os.path.join(_job_server_dir(), "deps")
    build = jar + ".build"
    shutil.rmtree(build, ignore_errors=True)
    compiled = subprocess.run(
        [javac, "-d", build, "-cp", os.path.join(deps, "*"),
         STAGE_NOTHING_SOURCE], capture_output=True, text=True, check=False)
    if compiled.returncode:
        echo(f"javac could not compile {STAGE_NOTHING_SOURCE} "
             f"({compiled.stderr.strip()[:200]}): each Flink job stages "
             f"Beam's jars (~150 MB) instead")
        return None
    with zipfile.ZipFile(jar + ".tmp", "w") as archive:
        for root, _, files in os.walk(build):
            for name in files:
                path = os.path.join(root, name)
                archive.write(path, os.path.relpath(path, build))
    shutil.rmtree(build, ignore_errors=True)
    os.replace(jar + ".tmp", jar)
    return jar


def _cluster_classpath():
    """The job server's jars for the cluster's JVMs (see
    `NOT_ON_CLUSTER_CLASSPATH`), ``:``-separated."""
    deps = os.path.join(_job_server_dir(), "deps")
    return ":".join(os.path.join(deps, name) for name in sorted(
        os.listdir(deps)) if name.endswith(".jar") and
        not name.startswith(NOT_ON_CLUSTER_CLASSPATH))


# ---------------------------------------------------------------- cluster

PORT_NAMES = ("jobmanager_rpc", "taskmanager_rpc", "taskmanager_data", "rest",
              "blob", "job", "artifact", "expansion", "worker_pool")


def _bind(port=0):
    """A socket bound to ``port`` on loopback (0: any free one), as the
    servers bind (SO_REUSEADDR); OSError if taken."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind(("localhost", port))
    except OSError:
        s.close()
        raise
    return s


def _ephemeral_ports():
    """The range the kernel picks clients' local ports from."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low, high = map(int, f.read().split())
            return range(low, high + 1)
    except (OSError, ValueError):
        return range(32768, 61000)  # Linux's default


def _free_ports(count):
    """``count`` free ports below the ephemeral range: a port a server
    binds seconds after it was chosen (the job server's, after Flink's JVMs
    start) must not be taken meanwhile as some client's local port, as a
    free port from the ephemeral range can be (seen in the test suite:
    'Failed to bind ... Address already in use')."""
    low = min(_ephemeral_ports().start, 30000)
    rng = random.Random()
    sockets = []
    for _ in range(10_000):
        if len(sockets) == count or low - 1024 < 1000:
            break  # (too few unprivileged ports below the range: any)
        port = rng.randrange(max(1024, low // 2), low)
        if any(s.getsockname()[1] == port for s in sockets):
            continue  # bound already: SO_REUSEADDR would bind it twice
        try:
            sockets.append(_bind(port))
        except OSError:
            continue
    while len(sockets) < count:
        sockets.append(_bind())
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _cluster_ports():
    """``{name: port}``: the ports of the previous start if all are free
    (and not in the ephemeral range, see `_free_ports`), else new ones (kept
    in ports.json). Stable ports keep the Beam arguments, and so TFX's cache
    keys, the same across restarts."""
    path = os.path.join(_cluster_dir(), "ports.json")
    if os.path.isfile(path):
        with open(path) as f:
            ports = json.load(f)
        try:
            if any(ports[n] in _ephemeral_ports() for n in PORT_NAMES):
                raise KeyError("ephemeral")
            for s in [_bind(ports[n]) for n in PORT_NAMES]:
                s.close()
            return ports
        except (OSError, KeyError):
            pass
    ports = dict(zip(PORT_NAMES, _free_ports(len(PORT_NAMES))))
    with open(path, "w") as f:
        json.dump(ports, f)
    return ports


def _write_flink_config(home, ports, folder):
    """conf/config.yaml: loopback, fixed free ports, 2 slots. Network
    memory: Beam's batch jobs are many unchained operators, each blocking
    result partition reserving Flink's sort-shuffle minimum (512 buffers of
    32 KB by default); with Flink's 64 MB default (or even 256 MB and that
    minimum) a job's GroupByKeys at parallelism 2 fail with 'Insufficient
    number of network buffers'. Hence 512 MB and a minimum of 64. Task
    off-heap memory: Beam's gRPC data plane to the Python workers takes its
    buffers from the TaskManager's direct memory (128 MB by default), which
    a 50x JapaneseVowels SequenceExampleGen exhausted ('OutOfMemoryError:
    Direct buffer memory')."""
    with open(os.path.join(home, "conf", "config.yaml.dist")) as f:
        java_opts = next(line.split(":", 1)[1].strip() for line in f
                         if line.strip().startswith("all:"))
    config = f"""\
env:
  java:
    opts:
      all: {java_opts}
jobmanager:
  bind-host: localhost
  rpc:
    address: localhost
    port: {ports['jobmanager_rpc']}
  memory:
    process:
      size: 1024m
  execution:
    failover-strategy: region
taskmanager:
  bind-host: localhost
  host: localhost
  numberOfTaskSlots: {SLOTS}
  rpc:
    port: {ports['taskmanager_rpc']}
  data:
    port: {ports['taskmanager_data']}
  memory:
    process:
      size: 3072m
    network:
      min: 512mb
      max: 512mb
    task:
      off-heap:
        size: 512mb
  network:
    sort-shuffle:
      min-buffers: 64
parallelism:
  default: {SLOTS}
# A lost TaskManager fails the job at once (one TaskManager: a retry would
# only wait for slots); the run then names the component.
restart-strategy:
  type: none
# Beam's classes come from the cluster's classpath (see `_flink_env`), not
# from a job's jars.
classloader:
  resolve-order: parent-first
heartbeat:
  timeout: 15000
rest:
  address: localhost
  bind-address: localhost
  port: {ports['rest']}
blob:
  server:
    port: {ports['blob']}
io:
  tmp:
    dirs: {os.path.join(folder, 'tmp')}
"""
    with open(os.path.join(home, "conf", "config.yaml"), "w") as f:
        f.write(config)


def rest_get(address, path, timeout=5):
    """JSON from Flink's REST API at ``host:port``."""
    with urllib.request.urlopen(f"http://{address}{path}",
                                timeout=timeout) as response:
        return json.load(response)


def check_reachable(address, timeout=5):
    """Flink's ``/overview`` at ``address`` (``host:port`` of the REST
    API); FlinkError if nothing answers there as Flink."""
    if ":" not in address:
        raise FlinkError(f"--flink-master {address}: expected HOST:PORT of "
                         f"Flink's REST API (e.g. localhost:8081)")
    try:
        overview = rest_get(address, "/overview", timeout)
    except (urllib.error.URLError, http.client.HTTPException, OSError,
            ValueError) as error:
        reason = getattr(error, "reason", None) or type(error).__name__
        raise FlinkError(
            f"Flink is not reachable at {address} ({reason}): start the "
            f"local cluster with 'noisy-rnn flink start', or pass "
            f"--flink-master with the HOST:PORT of a running cluster's REST "
            f"API") from None
    if "slots-total" not in overview:
        raise FlinkError(f"{address} answers, but not as Flink's REST API "
                         f"(no slots in /overview): check the port")
    if not overview["slots-total"]:
        raise FlinkError(f"Flink at {address} has no TaskManager (0 task "
                         f"slots): start one ('noisy-rnn flink start' "
                         f"restarts the local cluster)")
    return overview


def read_state():
    """The local cluster's endpoints and process ids, or None."""
    path = os.path.join(_cluster_dir(), STATE_FILE)
    if not os.path.isfile(path):
        return None
    with open(path) as f:
        return json.load(f)


def _alive(pid):
    try:
        os.kill(pid, 0)
    except (OSError, TypeError):
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:  # a zombie is not alive
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def _port_open(port):
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("localhost", port)) == 0


def flink_pids():
    """``{"jobmanager": pid, "taskmanager": pid}`` from Flink's pid files
    (those alive)."""
    pids = {}
    for role, name in (("jobmanager", "standalonesession"),
                       ("taskmanager", "taskexecutor")):
        folder = _cluster_dir()
        for file in os.listdir(folder) if os.path.isdir(folder) else []:
            if file.endswith(f"-{name}.pid"):
                with open(os.path.join(folder, file)) as f:
                    for line in f.read().split():
                        if line.isdigit() and _alive(int(line)):
                            pids[role] = int(line)
    return pids


def status():
    """``(state, problems)``: the recorded cluster and what is not up."""
    state = read_state()
    if state is None:
        return None, ["not started"]
    problems = []
    # The processes first: for a few seconds after a TaskManager dies, the
    # JobManager still counts its slots (until its heartbeat times out).
    running = flink_pids()
    for role, name in (("jobmanager", "JobManager"),
                       ("taskmanager", "TaskManager")):
        if role not in running:
            problems.append(f"{name}: not running")
    try:
        overview = rest_get(state["rest"], "/overview", 2)
        if overview.get("slots-total", 0) < SLOTS:
            problems.append(f"TaskManager: {overview.get('slots-total')} "
                            f"of {SLOTS} slots")
    except (urllib.error.URLError, OSError, ValueError):
        problems.append(f"JobManager: no REST API at {state['rest']}")
    for name in ("job_server", "worker_pool"):
        if not _alive(state["pids"][name]) or \
                not _port_open(int(state[name].split(":")[1])):
            problems.append(f"{name.replace('_', ' ')}: not running")
    return state, problems


def _flink_env(home, folder):
    """The environment of Flink's scripts. Its scripts append
    ``HADOOP_CLASSPATH`` to the JVMs' classpath: Beam's runner classes go
    there, loaded once per JVM instead of with every job."""
    return dict(os.environ, JAVA_HOME=java_home(), FLINK_HOME=home,
                FLINK_CONF_DIR=os.path.join(home, "conf"),
                FLINK_LOG_DIR=os.path.join(folder, "log"),
                FLINK_PID_DIR=folder, HADOOP_CLASSPATH=_cluster_classpath())


def _spawn(command, log, env):
    with open(log, "ab") as out:
        return subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env=env,
                                start_new_session=True).pid


def _wait(what, ready, log, seconds=READY_SECONDS, pid=None):
    """Waits until ``ready()``; FlinkError naming ``log`` if it does not
    come within ``seconds``, or at once if process ``pid`` exits first
    (with the log's last exception line)."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        if ready():
            return
        if pid is not None and not _alive(pid):
            raise FlinkError(f"{what} exited at start ({_last_error(log)}): "
                             f"see {log}")
        time.sleep(0.5)
    raise FlinkError(f"{what} did not come up within {seconds} s: see {log}")


def _last_error(log):
    """The log's last line naming an exception or error, shortened."""
    try:
        with open(log, errors="replace") as f:
            lines = f.read().splitlines()[-200:]
    except OSError:
        return "no log"
    found = [line.strip() for line in lines
             if "Exception" in line or "Error" in line]
    return found[-1][:200] if found else "no error in the log"


def start(echo=print):
    """Starts the local cluster (downloading what is missing) and returns
    its state; if it is already up, only returns the state."""
    state, problems = status()
    if not problems:
        return state
    if state is not None or flink_pids():
        echo(f"cluster partly down ({'; '.join(problems)}): restarting")
        stop(echo)
    home = _assemble_flink_home(echo)
    jar = fetch_job_server(echo)
    no_staging = stage_nothing_jar(echo)
    folder = _cluster_dir()
    # Nothing of the cluster runs now: what its JVMs left in tmp/ (a killed
    # TaskManager's copies of every job's jars) goes.
    shutil.rmtree(os.path.join(folder, "tmp"), ignore_errors=True)
    os.makedirs(os.path.join(folder, "tmp"), exist_ok=True)
    os.makedirs(os.path.join(folder, "log"), exist_ok=True)
    ports = _cluster_ports()
    _write_flink_config(home, ports, folder)
    env = _flink_env(home, folder)
    rest = f"localhost:{ports['rest']}"
    state = {"rest": rest, "job_server": f"localhost:{ports['job']}",
             "worker_pool": f"localhost:{ports['worker_pool']}",
             "slots": SLOTS, "flink_home": home, "job_server_jar": jar,
             "stage_nothing": bool(no_staging),
             "log_dir": os.path.join(folder, "log"), "pids": {}}
    echo(f"starting Flink {FLINK_VERSION}: JobManager, TaskManager "
         f"({SLOTS} slots)")
    for script in ("jobmanager.sh", "taskmanager.sh"):
        subprocess.run([os.path.join(home, "bin", script), "start"], env=env,
                       check=True, capture_output=True)

    def slots_up():
        try:
            return rest_get(rest, "/overview", 2)["slots-total"] >= SLOTS
        except (urllib.error.URLError, OSError, ValueError, KeyError):
            return False
    _wait("Flink", slots_up, state["log_dir"])
    log = os.path.join(folder, "log", "job-server.log")
    state["pids"]["job_server"] = _spawn(
        [os.path.join(env["JAVA_HOME"], "bin", "java"), "-cp",
         ":".join(filter(None, (jar, no_staging))),
         "org.apache.beam.runners.flink.FlinkJobServerDriver",
         f"--flink-master={rest}", f"--job-port={ports['job']}",
         f"--artifact-port={ports['artifact']}",
         f"--expansion-port={ports['expansion']}",
         f"--artifacts-dir={os.path.join(folder, 'artifacts')}"], log, env)
    # The pool starts each worker as a bare `python`: this environment's
    # bin/ goes first on PATH.
    log_pool = os.path.join(folder, "log", "worker-pool.log")
    bin_dir = os.path.dirname(sys.executable)
    state["pids"]["worker_pool"] = _spawn(
        [sys.executable, "-m", "apache_beam.runners.worker.worker_pool_main",
         f"--service_port={ports['worker_pool']}"], log_pool,
        dict(os.environ, PATH=bin_dir + os.pathsep + os.environ["PATH"],
             TF_USE_LEGACY_KERAS="1", TF_CPP_MIN_LOG_LEVEL="2"))
    with open(os.path.join(folder, STATE_FILE), "w") as f:
        json.dump(state, f, indent=1)
    _wait("Beam's job server", lambda: _port_open(ports["job"]), log,
          pid=state["pids"]["job_server"])
    _wait("the Python worker pool", lambda: _port_open(ports["worker_pool"]),
          log_pool, pid=state["pids"]["worker_pool"])
    return state


def _terminate(pid, seconds=15):
    try:
        os.killpg(pid, signal.SIGTERM)
    except OSError:
        return
    deadline = time.time() + seconds
    while _alive(pid) and time.time() < deadline:
        time.sleep(0.2)
    if _alive(pid):
        try:
            os.killpg(pid, signal.SIGKILL)
        except OSError:
            pass


def stop(echo=print):
    """Stops whatever of the local cluster runs; a no-op if nothing does."""
    state = read_state()
    stopped = []
    for name, pid in (state or {}).get("pids", {}).items():
        if _alive(pid):
            _terminate(pid)
            stopped.append(name.replace("_", " "))
    for role, pid in flink_pids().items():
        os.kill(pid, signal.SIGTERM)
        deadline = time.time() + 30
        while _alive(pid) and time.time() < deadline:
            time.sleep(0.2)
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
        stopped.append(role)
    folder = _cluster_dir()
    if os.path.isdir(folder):
        for file in os.listdir(folder):
            if file.endswith(".pid") or file == STATE_FILE:
                os.remove(os.path.join(folder, file))
        shutil.rmtree(os.path.join(folder, "artifacts"), ignore_errors=True)
    echo(f"stopped: {', '.join(stopped)}" if stopped
         else "no local Flink cluster running")


def describe(state):
    """The endpoints, one per line."""
    return (f"Flink REST API / web UI: http://{state['rest']}\n"
            f"Beam job server:         {state['job_server']}\n"
            f"Python worker pool:      {state['worker_pool']}\n"
            f"logs:                    {state['log_dir']}\n"
            f"run on it:               noisy-rnn run --runner flink ...")


# ---------------------------------------------------------------- Beam args

class StagingOptions(PipelineOptions):
    """Beam's Java option choosing what a job stages, made known to the
    Python SDK (which passes known options on to the job server): where
    this module is imported, ``--pipeline_resources_detector_factory_class``
    reaches the job server; elsewhere the SDK drops it with a warning and
    the job stages the job server's jars (slower, same result)."""

    FLAG = "pipeline_resources_detector_factory_class"

    @classmethod
    def _add_argparse_args(cls, parser):
        try:
            parser.add_argument(f"--{cls.FLAG}", default=None,
                                help="the Java class choosing what a job "
                                     "stages (Beam's Java SDK option)")
        except argparse.ArgumentError:
            pass  # defined twice (this module imported again): the same


def beam_args(flink_master=None):
    """``(beam_pipeline_args, workers_local)`` running the Beam components
    on Flink. FlinkError if Flink does not answer at ``flink_master``.

    No ``flink_master``, or the local cluster's: its job server and Python
    worker pool (EXTERNAL environment; ``workers_local``: they import this
    environment's package). Another cluster: Beam's FlinkRunner with the
    cached job server jar run here per job; its workers need the project
    (``--worker-package``) and an environment (Beam's default is DOCKER;
    ``--beam-arg=--environment_type=...`` after this overrides it).
    """
    state = read_state()
    if flink_master is None:
        if state is None:
            raise FlinkError("--runner flink without --flink-master: no "
                             "local cluster recorded in "
                             f"{_cluster_dir()}: run 'noisy-rnn flink "
                             "start', or pass --flink-master HOST:PORT")
        flink_master = state["rest"]
    check_reachable(flink_master)
    if state is not None and flink_master == state["rest"]:
        _, problems = status()
        if problems:
            raise FlinkError(f"local Flink cluster at {flink_master} is "
                             f"partly down ({'; '.join(problems)}): run "
                             f"'noisy-rnn flink start'")
        args = ["--runner=PortableRunner",
                f"--job_endpoint={state['job_server']}",
                "--environment_type=EXTERNAL",
                f"--environment_config={state['worker_pool']}",
                f"--parallelism={state['slots']}",
                f"--environment_cache_millis={ENVIRONMENT_CACHE_MS}"]
        if state.get("stage_nothing"):
            args.append(f"--{StagingOptions.FLAG}={STAGE_NOTHING}")
        return args, True
    java_home()
    return ["--runner=FlinkRunner", f"--flink_master={flink_master}",
            "--flink_version=1.19",
            f"--flink_job_server_jar={fetch_job_server()}"], False
