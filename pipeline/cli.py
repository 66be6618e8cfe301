"""The ``noisy-rnn`` command line.

Subcommands:
  version   print the project's and the stack's versions
  demo      stock GRU vs noisy GRUs on JapaneseVowels, test accuracy per seed
"""

import argparse
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


def build_parser():
    parser = argparse.ArgumentParser(
        prog="noisy-rnn",
        description="Recurrent models with trainable, noisy state, on TFX.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

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
                            module="google.api_core")
    args = build_parser().parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main()
