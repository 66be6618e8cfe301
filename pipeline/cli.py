"""The ``noisy-rnn`` command line.

Subcommands:
  version   print the project's and the stack's versions
  demo      stock GRU vs noisy GRUs on JapaneseVowels, test accuracy per seed
"""

import argparse
import dataclasses
import os
import sys
import warnings
from importlib import metadata

from pipeline import __version__

STACK = ("tfx", "tensorflow", "tf-keras", "tensorflow-transform",
         "apache-beam", "tensorflow-model-analysis")


def _cmd_version(_args):
    print(f"tfx-noisy-rnn {__version__}")
    print(f"python {sys.version.split()[0]}")
    for package in STACK:
        try:
            print(f"{package} {metadata.version(package)}")
        except metadata.PackageNotFoundError:
            print(f"{package} not installed")


def _cmd_demo(args):
    from pipeline import demo  # imports TensorFlow: only when needed
    demo.main(csv_path=args.csv, seeds=args.seeds, epochs=args.epochs,
              variants=args.variants)


def _add_model_options(parser):
    """One ``--option`` per `ModelConfig` field, defaults from the class."""
    from pipeline.config import ModelConfig
    group = parser.add_argument_group("model")
    for field in dataclasses.fields(ModelConfig):
        flag = "--" + field.name.replace("_", "-")
        if field.type is bool or isinstance(field.default, bool):
            group.add_argument(flag, action=argparse.BooleanOptionalAction,
                               default=field.default)
        else:
            group.add_argument(flag, type=type(field.default),
                               default=field.default,
                               help=f"default: {field.default}")


def _cmd_run(args):
    from pipeline import runner
    from pipeline.config import DEFAULT_BEAM_ARGS, ModelConfig, PipelineConfig
    from schemas.spec import SpecError
    model = ModelConfig(**{f.name: getattr(args, f.name)
                           for f in dataclasses.fields(ModelConfig)})
    try:
        config = PipelineConfig(
            dataset=args.dataset, output=args.output, model=model,
            min_accuracy=args.min_accuracy, max_mae=args.max_mae,
            enable_cache=not args.no_cache,
            beam_pipeline_args=args.beam_arg or list(DEFAULT_BEAM_ARGS))
    except (SpecError, ValueError) as error:
        raise SystemExit(f"error: {error}") from None
    print(f"pipeline {config.pipeline_name}: {config.spec.path} -> "
          f"{config.output}")
    try:
        summary = runner.run(config)
    except Exception as error:  # a component failed: say which and why
        raise SystemExit(f"error: pipeline failed: {error}") from None
    runner.print_summary(summary)
    # Skip interpreter teardown: TensorFlow's function finalizers then print
    # harmless "Exception ignored" tracebacks. Everything is written by now.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # pylint: disable=protected-access


def build_parser():
    parser = argparse.ArgumentParser(
        prog="noisy-rnn",
        description="Recurrent models with trainable, noisy state, on TFX.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    run = commands.add_parser(
        "run", help="run the TFX pipeline on a dataset (LocalDagRunner)")
    run.add_argument("--dataset", required=True,
                     help="dataset spec, e.g. schemas/japanese_vowels/"
                          "dataset.yaml")
    run.add_argument("--output", required=True,
                     help="folder for the pipeline root, MLMD and pushed "
                          "models")
    run.add_argument("--min-accuracy", type=float, default=0.5,
                     help="classification blessing threshold")
    run.add_argument("--max-mae", type=float, default=None,
                     help="regression blessing threshold")
    run.add_argument("--beam-arg", action="append", metavar="ARG",
                     help="Beam pipeline argument, passed through "
                          "(repeatable), e.g. --beam-arg=--runner=FlinkRunner;"
                          " default: in_memory DirectRunner, 1 worker")
    run.add_argument("--no-cache", action="store_true",
                     help="re-run every component")
    _add_model_options(run)
    run.set_defaults(func=_cmd_run)

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
