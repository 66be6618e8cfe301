"""`noisy-rnn run`'s up-to-date check: an identical rerun answered without
importing TFX.

TFX's own cache (MLMD) already skips every component whose inputs,
properties and code are unchanged, but a cached rerun still imports TFX,
TensorFlow, Beam and TFMA (5-6 s on two cores), compiles the pipeline and
renders the report again: 0.16x a fresh JapaneseVowels run. This check runs
before any of them. When everything a run depends on is as the last
finished run left it, nothing would execute, so the command prints that
run's summary again and stops. Compared:

- the data files: path, size and modification time, as TFX's ExampleGen
  fingerprints its inputs (the spec's CSV, or every file of
  ``--spans-dir``);
- the dataset spec, its curated schema and the schema frozen by the first
  push (contents);
- every pipeline and model option (the resolved `PipelineConfig`);
- the project's code (its Python files' contents) and the stack's
  versions;
- the output folder: the MLMD store (size and modification time, so any
  other run or retrain in between counts as a change), the artifact
  folders under the pipeline root (TFX re-executes a component whose
  cached outputs are gone) and the pushed versions.

Anything else, or ``--no-cache``, runs the pipeline, and TFX's cache then
decides per component. The record is ``<output>/last_run.json``, written
after each run that finished (a failed run leaves none), unless the run
changed what the next one reads: the schema it froze on a first push, or
with ``--warm-start`` the model it pushed (the next Trainer starts from
it). The next run then goes through TFX, as it must.
"""

import dataclasses
import glob
import hashlib
import json
import os
import sys
import time
from importlib import metadata, util

from noisy_rnn.pipeline import STACK

RECORD = "last_run.json"
# What a run imports of the project (installed from a wheel,
# `layer_arguments` is not under `layers`).
PROJECT_PACKAGES = ("noisy_rnn.pipeline", "noisy_rnn.components",
                    "noisy_rnn.layers", "noisy_rnn.layer_arguments",
                    "noisy_rnn.schemas")
ARTIFACT_DEPTH = 3  # <pipeline root>/<component>/<output>/<execution id>


def _file_stamp(path):
    """``[path, size, mtime_ns]``, or ``[path, None, None]`` if missing."""
    try:
        stat = os.stat(path)
    except OSError:
        return [path, None, None]
    return [path, stat.st_size, stat.st_mtime_ns]


def _content_hash(paths):
    """sha256 over ``paths`` (sorted) and their contents (missing: none)."""
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(path.encode() + b"\0")
        try:
            with open(path, "rb") as f:
                digest.update(f.read())
        except OSError:
            digest.update(b"<missing>")
        digest.update(b"\0")
    return digest.hexdigest()


def _data_files(config):
    """Stamps of the files the run would read (every file under the spans
    folder, symlinked span folders included)."""
    if config.spans_dir:
        files = [os.path.join(folder, name)
                 for folder, _, names in os.walk(config.spans_dir,
                                                 followlinks=True)
                 for name in names]
    else:
        files = glob.glob(config.spec.csv)
    return [_file_stamp(path) for path in sorted(files)]


def _python_files(package):
    """The ``.py`` files under an importable package's folders."""
    spec = util.find_spec(package)
    folders = list(spec.submodule_search_locations or []) if spec else []
    return [os.path.join(folder, name)
            for root in folders for folder, _, names in os.walk(root)
            if "__pycache__" not in folder
            for name in names if name.endswith(".py")]


def _code():
    """Hash of the project's code and the stack's versions."""
    files = [path for package in PROJECT_PACKAGES
             for path in _python_files(package)]
    versions = {"python": sys.version.split()[0]}
    for package in STACK:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return {"files": _content_hash(files), "versions": versions}


def _artifacts(root):
    """The artifact folders under the pipeline root, to `ARTIFACT_DEPTH`."""
    found = []
    for folder, names, _ in os.walk(root):
        relative = os.path.relpath(folder, root)
        if relative == ".":
            continue
        found.append(relative)
        if relative.count(os.sep) + 1 >= ARTIFACT_DEPTH:
            names.clear()
    return sorted(found)


def _options(config):
    """The resolved config as JSON-able text (the spec included; not
    ``enable_cache``: the check itself only runs with it on)."""
    fields = {f.name: getattr(config, f.name)
              for f in dataclasses.fields(config) if f.name != "enable_cache"}
    fields["spec"] = config.spec
    return json.loads(json.dumps(
        fields, sort_keys=True,
        default=lambda value: dataclasses.asdict(value)
        if dataclasses.is_dataclass(value) else repr(value)))


def fingerprint(config):
    """What the run depends on (see the module docstring), as a dict."""
    schemas = [path for path in (config.spec.schema,
                                 config.frozen_schema_path) if path]
    serving = config.serving_dir
    return {
        "data": _data_files(config),
        "spec_and_schemas": _content_hash([config.spec.path, *schemas]),
        "options": _options(config),
        "code": _code(),
        "metadata": _file_stamp(config.metadata_path),
        "artifacts": _artifacts(config.pipeline_root),
        "pushed": sorted(os.listdir(serving)) if os.path.isdir(serving)
        else [],
    }


def _record_path(config):
    """Where the last finished run's record is kept."""
    return os.path.join(config.output, RECORD)


def previous_run(config, current=None):
    """The last finished run's record (``finished``, ``lines``) when
    nothing it depended on changed (``current``: the fingerprint now, if
    taken already) and the cache is on; else None (also for a record this
    version cannot read)."""
    if not config.enable_cache:
        return None
    try:
        with open(_record_path(config)) as f:
            record = json.load(f)
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or \
            not isinstance(record.get("finished"), str) or \
            not isinstance(record.get("lines"), list) or \
            record.get("fingerprint") != (current or fingerprint(config)):
        return None
    return record


def changed_its_own_inputs(config, before, after):
    """Whether a run changed what the next identical run reads, given the
    fingerprints from before and after it: it froze the schema (a first
    push without a curated schema), or, warm-starting, pushed a model."""
    return (before["spec_and_schemas"] != after["spec_and_schemas"] or
            (config.warm_start and before["pushed"] != after["pushed"]))


def record_run(config, lines, before):
    """Records a finished run: its fingerprint, taken now (after the run
    wrote MLMD and pushed), and its summary ``lines``; nothing when
    `changed_its_own_inputs` (``before``: the fingerprint from before the
    run). Returns whether it recorded."""
    after = fingerprint(config)
    if changed_its_own_inputs(config, before, after):
        forget_run(config)
        return False
    record = {"finished": time.strftime("%Y-%m-%d %H:%M:%S"),
              "lines": list(lines), "fingerprint": after}
    path = _record_path(config)
    with open(path + ".tmp", "w") as f:
        json.dump(record, f, indent=1)
    os.replace(path + ".tmp", path)
    return True


def forget_run(config):
    """Removes the record: the next run goes through the pipeline."""
    try:
        os.remove(_record_path(config))
    except FileNotFoundError:
        pass
