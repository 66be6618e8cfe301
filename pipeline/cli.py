"""The ``noisy-rnn`` command line.

Subcommands:
  run            the TFX pipeline on a dataset (LocalDagRunner)
  retrain        retrain on the latest data span if new (cron-safe)
  schedule       retrain every period
  report         the HTML run report of an output folder
  split-spans    split a CSV by time into span-<N>/ folders
  export-schema  the schema frozen by the first push, next to the spec
  compile-kubeflow  the pipeline as Kubeflow Pipelines v2 / Vertex JSON
  deploy-config  TF Serving models.config, docker command, Kubernetes manifest
  predict        a CSV's sequences -> TF Serving (REST/gRPC) or a SavedModel
  version        print the project's and the stack's versions
  demo           stock GRU vs noisy GRUs on JapaneseVowels, test accuracy
  flink          start, stop or check a local Flink cluster (--runner flink)
"""

import argparse
import contextlib
import dataclasses
import io
import os
import sys
import time
import warnings
from importlib import metadata

from noisy_rnn.pipeline import STACK, __version__

EXIT_BUSY = 75  # EX_TEMPFAIL: another retrain holds the lock
VERBOSE_HELP = ("also show the libraries' output (TensorFlow, Beam, absl, "
                "warnings) and tracebacks; always in <output>/logs/")


def _cmd_version(_args):
    print(f"tfx-noisy-rnn {__version__}")
    print(f"python {sys.version.split()[0]}")
    for package in STACK:
        try:
            print(f"{package} {metadata.version(package)}")
        except metadata.PackageNotFoundError:
            print(f"{package} not installed")


def _cmd_demo(args):
    from noisy_rnn.pipeline.ops import \
        demo  # imports TensorFlow: only when needed
    demo.main(csv_path=args.csv, seeds=args.seeds, epochs=args.epochs,
              variants=args.variants)


EXPLICIT = "explicit_model_options"  # parsed: the model options given


def _recording(action_class):
    """``action_class`` that also adds its dest to the parsed namespace's
    `EXPLICIT` set: which model options the user gave (the Tuner leaves
    those as given, even when given their default value)."""
    class Recording(action_class):
        def __call__(self, parser, namespace, values, option_string=None):
            super().__call__(parser, namespace, values, option_string)
            given = set(getattr(namespace, EXPLICIT, None) or ())
            setattr(namespace, EXPLICIT, given | {self.dest})
    return Recording


def _add_model_options(parser):
    """One ``--option`` per `ModelConfig` field, defaults from the class."""
    from noisy_rnn.pipeline.config import ModelConfig
    group = parser.add_argument_group("model")
    for field in dataclasses.fields(ModelConfig):
        flag = "--" + field.name.replace("_", "-")
        if field.type is bool or isinstance(field.default, bool):
            group.add_argument(
                flag, action=_recording(argparse.BooleanOptionalAction),
                default=field.default)
        else:
            group.add_argument(flag, type=type(field.default),
                               action=_recording(argparse._StoreAction),
                               default=field.default,
                               help=f"default: {field.default}")


def _list_of(kind):
    """argparse type: a comma-separated list of ``kind``."""
    def parse(text):
        try:
            return [kind(item) for item in text.split(",") if item.strip()]
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected comma-separated {kind.__name__} values, got "
                f"{text!r}") from None
    return parse


def _add_tune_options(parser):
    """``--tune`` and the Tuner's budget and search space (see
    `noisy_rnn.pipeline.config.TuneConfig`); any of them turns it on."""
    from noisy_rnn.pipeline.config import TUNE_SPACE, TuneConfig
    group = parser.add_argument_group(
        "tuning", "a Tuner chooses noise, initial state and sizes on the "
                  "validation slice (or k-fold cross-validation) before "
                  "the Trainer")
    group.add_argument("--tune", action=argparse.BooleanOptionalAction,
                       default=None,
                       help="default: as the dataset spec's 'tune' key")
    defaults = TuneConfig()
    for field in dataclasses.fields(TuneConfig):
        if field.name == "space":
            continue
        group.add_argument("--tune-" + field.name.replace("_", "-"),
                           type=int, default=None,
                           help=f"default: {getattr(defaults, field.name)}")
    for name, values in TUNE_SPACE.items():
        kind = type(values[0])
        group.add_argument("--tune-" + name.replace("_", "-"),
                           type=_list_of(kind), default=None,
                           metavar="A,B,...",
                           help=f"default: {','.join(map(str, values))}")


def _tune_config(args, spec_tune):
    """The run's `TuneConfig` (False: none) from ``--tune`` and the tuning
    options over the spec's ``tune`` key (``spec_tune``)."""
    from noisy_rnn.pipeline.config import TUNE_SPACE, TuneConfig
    budget = {f.name: getattr(args, "tune_" + f.name)
              for f in dataclasses.fields(TuneConfig) if f.name != "space"}
    space = {name: getattr(args, "tune_" + name) for name in TUNE_SPACE}
    given = {k: v for k, v in budget.items() if v is not None}
    given_space = {k: v for k, v in space.items() if v is not None}
    if args.tune is False:
        return False
    if args.tune is None and not given and not given_space and \
            spec_tune is None:
        return False
    kwargs = {**(spec_tune or {}), **given}
    if given_space:
        kwargs["space"] = {**kwargs.get("space", {
            k: list(v) for k, v in TUNE_SPACE.items()}), **given_space}
    return TuneConfig(**kwargs)


def _pipeline_config(args, **overrides):
    """`PipelineConfig` from the pipeline options; exits on a bad option."""
    from noisy_rnn.pipeline.config import (DEFAULT_BEAM_ARGS, ModelConfig,
                                           PipelineConfig)
    from noisy_rnn.schemas.dataset_spec import SpecError
    model = ModelConfig(**{f.name: getattr(args, f.name)
                           for f in dataclasses.fields(ModelConfig)})
    beam_args = args.beam_arg or list(DEFAULT_BEAM_ARGS)
    if args.runner == "flink" or args.flink_master:
        from noisy_rnn.pipeline.ops import flink_cluster
        try:
            flink_args, workers_local = flink_cluster.beam_args(
                args.flink_master)
        except flink_cluster.FlinkError as error:
            raise SystemExit(f"error: {error}") from None
        beam_args = flink_args + beam_args
        overrides.setdefault("workers_local", workers_local)
    try:
        from noisy_rnn.schemas.dataset_spec import load_spec
        tune = _tune_config(args, load_spec(args.dataset).tune)
        return PipelineConfig(
            dataset=args.dataset, output=args.output, model=model,
            tune=tune,
            explicit_options=sorted(getattr(args, EXPLICIT, None) or ()),
            min_accuracy=args.min_accuracy, max_mae=args.max_mae,
            beat_naive=args.beat_naive,
            latency_budgets_ms=dict(args.latency_budget) or None,
            enable_cache=not args.no_cache, spans_dir=args.spans_dir,
            spans_window=args.spans_window,
            warm_start=getattr(args, "warm_start", False),
            beam_pipeline_args=beam_args,
            direct_components=args.direct_component,
            worker_package=args.worker_package, **overrides)
    except (SpecError, ValueError) as error:
        raise SystemExit(f"error: {error}") from None


def pipeline_config(options):
    """The `PipelineConfig` that ``noisy-rnn run OPTIONS`` would run, for
    orchestrators that build the pipeline themselves (the Airflow DAG in
    ``deploy/airflow/``): the same options, defaults and checks. A bad
    option raises ValueError with the CLI's message (not SystemExit, which
    Airflow's DAG parser would not record as an import error)."""
    errors = io.StringIO()
    try:
        with contextlib.redirect_stderr(errors):
            args = build_parser().parse_args(["run", *options])
        return _pipeline_config(args)
    except SystemExit as error:
        message = (error.code if isinstance(error.code, str) else
                   (errors.getvalue().strip().splitlines() or ["error"])[-1])
        raise ValueError(f"noisy-rnn run {' '.join(options)}: "
                         f"{message}") from None


def _cmd_flink(args):
    from noisy_rnn.pipeline.ops import flink_cluster
    try:
        if args.action == "start":
            state = flink_cluster.start()
            print(flink_cluster.describe(state))
        elif args.action == "stop":
            flink_cluster.stop()
        else:
            state, problems = flink_cluster.status()
            if state is not None:
                print(flink_cluster.describe(state))
            print("status: " + ("; ".join(problems) if problems else "up"))
            if problems:
                raise SystemExit(1)
    except flink_cluster.FlinkError as error:
        raise SystemExit(f"error: {error}") from None


def _exit_now(code=0):
    """Skips interpreter teardown: TensorFlow's function finalizers then
    print harmless "Exception ignored" tracebacks. Everything is written."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # pylint: disable=protected-access


def _start_console(output, command, verbose):
    """Our lines on the terminal; the libraries' output (TF, absl, Beam,
    warnings, child processes) in ``<output>/logs/`` (and, ``verbose``,
    on the terminal too). Called before TensorFlow is imported."""
    from noisy_rnn.pipeline.ops.console import Console
    if "://" in output:  # as runner.check_local says, without TensorFlow
        raise SystemExit(f"error: --output {output}: a local run needs a "
                         f"local folder (URIs are for compile-kubeflow)")
    return Console(os.path.join(output, "logs"), command, verbose).start()


def _run_options(console):
    return dict(echo=console.echo, log_path=console.log_path,
                status=console.status if console.interactive else None)


def _finish(console, code=0):
    console.close()
    _exit_now(code)


def _cmd_run(args):
    config = _pipeline_config(args)
    console = _start_console(config.output, "run", args.verbose)
    console.echo(f"pipeline {config.pipeline_name}: {config.spec.path} -> "
                 f"{config.output}")
    console.echo(f"log: {console.log_path}")
    from noisy_rnn.pipeline.ops import up_to_date
    before = up_to_date.fingerprint(config)
    previous = up_to_date.previous_run(config, before)
    if previous:  # nothing would execute: said without importing TFX
        console.echo(f"up to date: data, spec, options, code and outputs "
                     f"are as the run finished at {previous['finished']} "
                     f"left them; nothing ran (--no-cache runs every "
                     f"component again). That run:")
        for line in previous["lines"]:
            console.echo(line)
        _finish(console)
    up_to_date.forget_run(config)
    started_ms = int(time.time() * 1000)
    from noisy_rnn.pipeline.ops import \
        runner  # imports TensorFlow: after the console
    try:
        summary = runner.run(config, **_run_options(console))
    except ValueError as error:
        console.error(str(error))
        _finish(console, 1)
    except KeyboardInterrupt:
        console.error("interrupted")
        _finish(console, 130)
    except Exception as error:  # a component failed: say which and why
        failed = runner.failed_components(config, started_ms)
        where = f" in {', '.join(failed)}" if failed else ""
        # Beam jobs' failures carry the remote stack trace: its first line.
        first = (str(error).strip().splitlines() or [""])[0]
        console.error(f"pipeline failed{where}: {first[:400]}")
        _finish(console, 1)
    lines = []  # the summary, kept for an identical rerun

    def echo(line=""):
        lines.append(line)
        console.echo(line)

    runner.print_summary(summary, echo=echo)
    try:
        up_to_date.record_run(config, lines, before)
    except Exception as error:  # pylint: disable=broad-except
        # The run stands; the next identical one goes through TFX.
        console.echo(f"up-to-date record not written: "
                     f"{type(error).__name__}: {error}")
    _finish(console)


def _echo_retrain_outcome(console, span, reason, served_version):
    console.echo(f"span {span}: {reason}")
    console.echo(f"served version: {served_version or 'none'}")


def _retrain_once(args, console, config=None):
    try:
        config = config or _pipeline_config(args)
    except SystemExit as error:  # a bad option: on the terminal, not the log
        console.error(str(error.code).removeprefix("error: "))
        return 1
    if not args.force:  # nothing new: said without importing TFX
        from noisy_rnn.pipeline.ops import retrain_state
        try:
            with retrain_state.retrain_lock(config.output):
                quiet = retrain_state.nothing_new(config)
        except retrain_state.RetrainBusy as error:
            console.error(str(error))
            return EXIT_BUSY
        except ValueError as error:  # an unreadable state file
            console.error(str(error))
            return 1
        if quiet:
            _echo_retrain_outcome(console, *quiet,
                                  retrain_state.served_version(config))
            return 0
    from noisy_rnn.pipeline.ops import retrain, runner
    try:
        result = retrain.retrain(config, force=args.force,
                                 **_run_options(console))
    except retrain.RetrainBusy as error:
        console.error(str(error))
        return EXIT_BUSY
    except (FileNotFoundError, ValueError, retrain.RetrainFailed) as error:
        console.error(str(error))
        return 1
    if result.summary is not None:
        runner.print_summary(result.summary, echo=console.echo)
    _echo_retrain_outcome(console, result.span, result.reason,
                          result.served_version)
    return 0


def _cmd_retrain(args):
    config = _pipeline_config(args)  # a bad option: before the console
    console = _start_console(config.output, "retrain", args.verbose)
    _finish(console, _retrain_once(args, console, config))


def _cmd_schedule(args):
    import time

    _pipeline_config(args)  # a bad option: said before the console starts
    console = _start_console(os.path.abspath(args.output), "schedule",
                             args.verbose)
    from noisy_rnn.pipeline.ops import \
        retrain  # imports TensorFlow: after the console
    try:
        period = retrain.parse_every(args.every)
    except ValueError as error:
        console.error(str(error))
        _finish(console, 2)
    while True:
        console.echo(f"[{time.strftime('%F %T')}] retrain")
        _retrain_once(args, console)
        time.sleep(period)


def _cmd_report(args):
    output = os.path.abspath(args.output)
    if not os.path.isdir(output):
        raise SystemExit(f"error: --output {args.output}: no such folder "
                         f"(pass the folder given to `noisy-rnn run "
                         f"--output`)")
    console = _start_console(output, "report", args.verbose)
    from noisy_rnn.pipeline.ops import \
        report  # imports TensorFlow: after the console
    try:
        path, seconds = report.write_report(output)
    except Exception as error:  # pylint: disable=broad-except
        console.error(f"report not written: {error}")
        _finish(console, 1)
    console.echo(f"report: {path} (rendered in {seconds:.1f} s)")
    _finish(console)


def _cmd_compile_kubeflow(args):
    from noisy_rnn.pipeline import orchestrators
    config = _pipeline_config(args)
    try:
        path = orchestrators.compile_kubeflow_v2(
            config, args.dest, args.image, args.package_in_image)
    except ValueError as error:
        raise SystemExit(f"error: {error}") from None
    print(f"wrote {path}")


def _cmd_export_schema(args):
    from noisy_rnn.pipeline.config import PipelineConfig
    from noisy_rnn.pipeline.ops import frozen_schema
    from noisy_rnn.schemas.dataset_spec import SpecError
    try:
        config = PipelineConfig(dataset=args.dataset, output=args.output)
        path = frozen_schema.export(config, args.dest, args.force)
    except (SpecError, OSError) as error:
        raise SystemExit(f"error: {error}") from None
    print(f"wrote {path}: edit it, and every run of this spec validates "
          f"against it")


def _cmd_split_spans(args):
    from noisy_rnn.pipeline.ops import spans
    from noisy_rnn.schemas.dataset_spec import SpecError, load_spec
    try:
        spec = load_spec(args.dataset)
        paths = spans.split_into_spans(spec.csv, spec.step, args.dest,
                                       args.spans,
                                       cumulative=not args.disjoint)
    except (SpecError, ValueError) as error:
        raise SystemExit(f"error: {error}") from None
    for path in paths:
        print(f"wrote {path}")


def _add_dataset_option(parser, help_text="the dataset"):
    from noisy_rnn.schemas.dataset_spec import bundled_datasets
    parser.add_argument(
        "--dataset", required=True,
        help=f"{help_text}: a dataset.yaml (or its folder), or the name of "
             f"a bundled dataset: {', '.join(bundled_datasets())}")


def _budget_names():
    from noisy_rnn.schemas.contracts import DEFAULT_LATENCY_BUDGETS_MS
    return sorted(DEFAULT_LATENCY_BUDGETS_MS)


def _latency_budget(text):
    """``NAME=MS`` -> ``(name, ms)``; argparse names the option on error."""
    name, _, value = text.partition("=")
    if name not in _budget_names():
        raise argparse.ArgumentTypeError(
            f"{text!r}: unknown budget {name!r} (one of "
            f"{', '.join(_budget_names())})")
    try:
        milliseconds = float(value)
    except ValueError:
        milliseconds = 0.0
    if not milliseconds > 0:
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected {name}=MS with MS a positive number")
    return name, milliseconds


def _positive_int(text):
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(
            f"must be a positive integer, got {text!r}")
    return value


def _add_pipeline_options(parser, spans_required=False):
    _add_dataset_option(parser)
    parser.add_argument("--output", required=True,
                        help="folder for the pipeline root, MLMD and pushed "
                             "models")
    parser.add_argument("--spans-dir", required=spans_required, default=None,
                        help="folder of span-<N>/ folders of CSVs: train on "
                             "the latest span instead of the spec's CSV")
    parser.add_argument("--spans-window", type=_positive_int, default=None,
                        metavar="K",
                        help="with --spans-dir: train on the latest K spans "
                             "(disjoint deliveries, joined per series) "
                             "instead of the latest one; default: the "
                             "spec's spans_window key, else 1")
    parser.add_argument("--min-accuracy", type=float, default=0.5,
                        help="classification blessing threshold")
    parser.add_argument("--max-mae", type=float, default=None,
                        help="regression blessing threshold")
    parser.add_argument("--latency-budget", action="append", default=[],
                        metavar="NAME=MS", type=_latency_budget,
                        help="a ServingValidator latency budget in ms "
                             "(repeatable), e.g. --latency-budget "
                             "p99_batch_64=300 on a slower machine; names: "
                             + ", ".join(_budget_names()))
    parser.add_argument("--beat-naive", action=argparse.BooleanOptionalAction,
                        default=True,
                        help="forecasting a channel's own future: bless only "
                             "a model whose eval MAE is below persistence's "
                             "(and seasonal-naive's, when the spec declares "
                             "a season)")
    parser.add_argument("--beam-arg", action="append", metavar="ARG",
                        help="Beam pipeline argument, passed through "
                             "(repeatable), e.g. --beam-arg=--runner="
                             "FlinkRunner; default: in_memory DirectRunner, "
                             "1 worker")
    parser.add_argument("--runner", choices=("direct", "flink"),
                        default="direct",
                        help="where the Beam components (SequenceExampleGen, "
                             "StatisticsGen, Transform, Evaluator) run: "
                             "Beam's DirectRunner here, or a Flink cluster "
                             "(default the local one, `noisy-rnn flink "
                             "start`); "
                             "--beam-arg values come after and override")
    parser.add_argument("--flink-master", default=None, metavar="HOST:PORT",
                        help="with --runner flink: the REST address of "
                             "another Flink cluster (its workers need "
                             "--worker-package)")
    parser.add_argument("--direct-component", action="append", default=[],
                        metavar="NAME",
                        help="with another runner, keep this Beam component "
                             "(SequenceExampleGen, StatisticsGen, Transform, "
                             "Evaluator) on the DirectRunner here "
                             "(repeatable)")
    parser.add_argument("--worker-package", default=None, metavar="PATH",
                        help="how Beam workers get this project: a wheel "
                             "(pip wheel --no-deps -w dist .), or a "
                             "checkout's setup.py; needed by remote runners, "
                             "not by the DirectRunner")
    parser.add_argument("--no-cache", action="store_true",
                        help="re-run every component")
    _add_model_options(parser)
    _add_tune_options(parser)


def _model_name(args):
    """``--model-name``, else the dataset spec's name, else the only model
    pushed under ``<output>/serving``."""
    if args.model_name:
        return args.model_name
    if getattr(args, "dataset", None):
        from noisy_rnn.schemas.dataset_spec import SpecError, load_spec
        try:
            return load_spec(args.dataset, check_csv=False).name
        except SpecError as error:
            raise SystemExit(f"error: {error}") from None
    serving = os.path.join(args.output, "serving")
    names = sorted(os.listdir(serving)) if os.path.isdir(serving) else []
    if not names:
        raise SystemExit(f"error: nothing pushed under {serving}: run "
                         f"`noisy-rnn run --output {args.output}` first")
    if len(names) != 1:
        raise SystemExit(f"error: {serving} holds {len(names)} models "
                         f"({', '.join(names) or 'none'}): pass --model-name")
    return names[0]


def _cmd_deploy_config(args):
    from noisy_rnn.pipeline.serving import deploy
    model_name = _model_name(args)
    dest = args.dest or os.path.join(args.output, "deploy")
    try:
        written = deploy.write_deploy_files(
            os.path.join(args.output, "serving", model_name), model_name,
            dest, num_versions=args.num_versions)
    except (FileNotFoundError, ValueError) as error:
        raise SystemExit(f"error: {error}") from None
    versions = written.pop("versions")
    print(f"model {model_name}: pushed versions {versions}")
    for name, path in sorted(written.items()):
        print(f"  wrote {path}")


def _cmd_predict(args):
    from noisy_rnn.pipeline.serving import client
    try:
        count = client.predict_to_csv(
            args.target, args.dataset, args.csv, output=args.out,
            model_name=args.model_name, signature=args.signature,
            rest_format=args.rest_format, batch_size=args.batch_size,
            timeout=args.timeout, version=args.version)
    except (ValueError, client.PredictionError) as error:
        raise SystemExit(f"error: {error}") from None
    print(f"{count} predictions from {args.target}", file=sys.stderr)
    _exit_now()


def build_parser():
    from noisy_rnn.pipeline import config  # no TensorFlow: cheap
    parser = argparse.ArgumentParser(
        prog="noisy-rnn",
        description="Recurrent models with trainable, noisy state, on TFX.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    run = commands.add_parser(
        "run", help="run the TFX pipeline on a dataset (LocalDagRunner)")
    _add_pipeline_options(run)
    run.add_argument("--warm-start", action="store_true",
                     help="start training from the latest pushed model")
    run.add_argument("--verbose", action="store_true", help=VERBOSE_HELP)
    run.set_defaults(func=_cmd_run)

    retrain = commands.add_parser(
        "retrain", help="retrain on the latest span if a new one arrived "
                        "(cron-safe: locked, warm start, gated push)")
    _add_pipeline_options(retrain, spans_required=True)
    retrain.add_argument("--force", action="store_true",
                         help="run even if the latest span was attempted")
    retrain.add_argument("--verbose", action="store_true",
                         help=VERBOSE_HELP)
    retrain.set_defaults(func=_cmd_retrain)

    schedule = commands.add_parser(
        "schedule", help="call retrain every period, in the foreground")
    _add_pipeline_options(schedule, spans_required=True)
    schedule.add_argument("--every", required=True,
                          help="period: 30m, 6h, 1d, ...")
    schedule.add_argument("--verbose", action="store_true",
                          help=VERBOSE_HELP)
    schedule.set_defaults(func=_cmd_schedule, force=False)

    compile_kubeflow = commands.add_parser(
        "compile-kubeflow", help="compile the pipeline for Kubeflow "
                                 "Pipelines v2 / Vertex (pipeline JSON)")
    _add_pipeline_options(compile_kubeflow)
    compile_kubeflow.add_argument("--warm-start", action="store_true")
    compile_kubeflow.add_argument("--image", required=True,
                                  help="container image with this project "
                                       "installed")
    compile_kubeflow.add_argument("--dest", required=True,
                                  help="folder for <name>_pipeline.json")
    compile_kubeflow.add_argument(
        "--package-in-image", default=config.PACKAGE_IN_IMAGE,
        help="where the image has the noisy_rnn package installed "
             "(bundled specs and schemas are read there; default: "
             "%(default)s)")
    compile_kubeflow.set_defaults(func=_cmd_compile_kubeflow)

    report = commands.add_parser(
        "report", help="(re)write <output>/report/index.html and "
                       "history.html from the runs in an output folder")
    report.add_argument("--output", required=True,
                        help="the runs' output folder (`run --output`)")
    report.add_argument("--verbose", action="store_true", help=VERBOSE_HELP)
    report.set_defaults(func=_cmd_report)

    export_schema = commands.add_parser(
        "export-schema", help="copy the schema frozen by the first pushed "
                              "model next to the spec, for curation")
    _add_dataset_option(export_schema)
    export_schema.add_argument("--output", required=True,
                               help="the runs' output folder")
    export_schema.add_argument("--dest", default=None,
                               help="default: schema.pbtxt next to the spec")
    export_schema.add_argument("--force", action="store_true",
                               help="overwrite an existing file")
    export_schema.set_defaults(func=_cmd_export_schema)

    split_spans = commands.add_parser(
        "split-spans", help="split a dataset's CSV by time into "
                            "span-<N>/ folders (demos, tests)")
    _add_dataset_option(split_spans)
    split_spans.add_argument("--dest", required=True)
    split_spans.add_argument("--spans", type=int, default=3)
    split_spans.add_argument("--disjoint", action="store_true",
                             help="each span only its own steps (default: "
                                  "cumulative exports)")
    split_spans.set_defaults(func=_cmd_split_spans)

    deploy_config = commands.add_parser(
        "deploy-config", help="write TF Serving models.config, docker-run.sh "
                              "and kubernetes.yaml for the pushed model")
    deploy_config.add_argument("--output", required=True,
                               help="the pipeline output folder (`run "
                                    "--output`)")
    deploy_config.add_argument("--model-name", default=None,
                               help="default: the only model pushed under "
                                    "<output>/serving")
    deploy_config.add_argument("--dest", default=None,
                               help="default: <output>/deploy")
    deploy_config.add_argument("--num-versions", type=int, default=1,
                               help="newest versions served at once "
                                    "(default: %(default)s)")
    deploy_config.set_defaults(func=_cmd_deploy_config)

    predict = commands.add_parser(
        "predict", help="predict a CSV's sequences with TF Serving (REST or "
                        "gRPC) or a SavedModel")
    _add_dataset_option(predict, "the model's dataset (columns, mode)")
    predict.add_argument("--csv", required=True,
                         help="long CSV: sequence_id, step and the feature "
                              "columns (label and split optional)")
    predict.add_argument("--target", required=True,
                         help="http://host:8501 (REST), grpc://host:8500, or "
                              "a SavedModel folder (a version, or the "
                              "versions' parent: the latest)")
    predict.add_argument("--model-name", default=None,
                         help="served model name (default: the spec's name)")
    predict.add_argument("--version", type=int, default=None,
                         help="a specific served version")
    predict.add_argument("--signature", choices=("examples", "sequences"),
                         default=None,
                         help="serving_default (tf.Example) or "
                              "serving_sequences (float tensors); default: "
                              "sequences over REST, examples otherwise")
    predict.add_argument("--rest-format", choices=("instances", "inputs"),
                         default="instances",
                         help="REST row or columnar request format")
    predict.add_argument("--batch-size", type=int, default=64)
    predict.add_argument("--timeout", type=float, default=30.0,
                         help="seconds per request")
    predict.add_argument("--out", default=None,
                         help="write the CSV here (default: stdout)")
    predict.set_defaults(func=_cmd_predict)

    flink = commands.add_parser(
        "flink", help="a local Flink cluster for --runner flink (no Docker; "
                      "downloads cached under ~/.cache/noisy-rnn/flink)")
    flink.add_argument("action", choices=("start", "stop", "status"),
                       help="start (or print the endpoints if it is up), "
                            "stop, or check it")
    flink.set_defaults(func=_cmd_flink)

    version = commands.add_parser("version", help="print versions")
    version.set_defaults(func=_cmd_version)

    demo = commands.add_parser(
        "demo", help="stock vs noisy GRU on JapaneseVowels (test accuracy)")
    demo.add_argument("--csv", default=os.path.join("data",
                                                    "japanese_vowels.csv"),
                      help="long CSV (default: %(default)s)")
    demo.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    demo.add_argument("--epochs", type=int, default=60)
    demo.add_argument("--variants", nargs="+", default=None,
                      help="subset of the demo's model variants")
    demo.set_defaults(func=_cmd_demo)
    return parser


def main(argv=None):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    warnings.filterwarnings("ignore", category=FutureWarning,
                            module="google")
    args = build_parser().parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main()
