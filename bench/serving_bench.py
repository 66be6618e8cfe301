"""Serving latency: the pushed noisy model vs the same architecture built
from stock tf_keras GRU/LSTM layers, both exported with the same serving
signatures (Transform graph included) and timed interleaved in one process.

Prints p50/p99 milliseconds of ``serving_default`` at batch 1 and 64 on real
eval examples, and the noisy/stock ratio (target <= 1.02).

Usage:
    .venv/bin/python bench/serving_bench.py [--output runs/jv] [--repeats 1000]

``--output`` is a pipeline output folder; if nothing is pushed there yet, the
default JapaneseVowels pipeline is run into it first (~1 min).
"""

import argparse
import glob
import json
import os
import tempfile
import time
import warnings

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
warnings.filterwarnings("ignore", category=FutureWarning)

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tensorflow_transform as tft  # noqa: E402
import tf_keras  # noqa: E402

from noisy_rnn.pipeline.config import ModelConfig, PipelineConfig  # noqa: E402
from noisy_rnn.pipeline.ops import runner  # noqa: E402
from noisy_rnn.pipeline.serving import deploy  # noqa: E402
from noisy_rnn.pipeline.trainer import architecture  # noqa: E402
from noisy_rnn.pipeline.trainer import signatures  # noqa: E402
from noisy_rnn.schemas import contracts  # noqa: E402

BATCH_SIZES = (1, 64)


def latest(artifacts_dir, *inside):
    """``<artifacts_dir>/<highest artifact id>/<inside...>``."""
    ids = [int(name) for name in os.listdir(artifacts_dir) if name.isdigit()]
    if not ids:
        raise SystemExit(f"error: no artifact under {artifacts_dir}")
    return os.path.join(artifacts_dir, str(max(ids)), *inside)


def pushed_model(config):
    """The newest pushed version under ``config.serving_dir``, running the
    pipeline first when there is none."""
    versions = deploy.pushed_versions(config.serving_dir)
    if not versions:
        print(f"nothing pushed under {config.serving_dir}: running the "
              f"pipeline first", flush=True)
        return runner.run(config, echo=lambda _: None).pushed_path
    return os.path.join(config.serving_dir, str(versions[-1]))


def stock_layer(model_config, return_sequences):
    """A stock tf_keras GRU/LSTM in place of
    `noisy_rnn.pipeline.trainer.architecture.recurrent_layer`
    (the rest of `build_model`'s architecture stays the same)."""
    layer_class = (tf_keras.layers.GRU if model_config.cell == "gru"
                   else tf_keras.layers.LSTM)
    return layer_class(model_config.units, return_sequences=return_sequences)


def export_stock(config, model_config, export_dir):
    """Exports the stock counterpart with the run's Transform graph."""
    root = config.pipeline_root
    transform_output = tft.TFTransformOutput(
        latest(os.path.join(root, "Transform", "transform_graph")))
    spec = config.spec
    class_names = []
    if spec.task == "classification":
        class_names = [c.decode() for c in transform_output.vocabulary_by_name(
            contracts.LABEL_VOCABULARY)]
    keras_model = architecture.build_model(
        model_config, len(spec.features), len(class_names) or 1,
        make_recurrent=stock_layer)
    keras_model.save(export_dir, save_format="tf", save_traces=False,
                     signatures=signatures.make_serving_signatures(
                         keras_model, transform_output, spec, class_names))


def eval_records(config, count=64):
    split = latest(os.path.join(config.pipeline_root, "SequenceExampleGen",
                                "examples"), "Split-eval")
    return [r.numpy() for r in tf.data.TFRecordDataset(
        glob.glob(os.path.join(split, "*.gz")),
        compression_type="GZIP").take(count)]


def time_interleaved(functions, inputs, repeats):
    """Milliseconds per call, alternating which model goes first."""
    times = {name: [] for name in functions}
    order = list(functions)
    for name in order:  # warm-up
        for _ in range(10):
            functions[name](examples=inputs)
    for repeat in range(repeats):
        for name in (order if repeat % 2 == 0 else order[::-1]):
            start = time.perf_counter()
            functions[name](examples=inputs)
            times[name].append((time.perf_counter() - start) * 1e3)
    return times


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default="runs/jv")
    parser.add_argument("--dataset",
                        default="japanese_vowels")
    parser.add_argument("--repeats", type=int, default=1000)
    args = parser.parse_args()
    config = PipelineConfig(dataset=args.dataset, output=args.output)
    noisy_dir = pushed_model(config)
    model_run = latest(os.path.join(config.pipeline_root, "Trainer",
                                    "model_run"))
    with open(os.path.join(model_run, contracts.MODEL_CONFIG_FILE)) as f:
        model_config = ModelConfig(**json.load(f))
    stock_dir = tempfile.mkdtemp(prefix="stock_model_")
    export_stock(config, model_config, stock_dir)
    functions = {
        "noisy (pushed)": tf.saved_model.load(noisy_dir).signatures[
            "serving_default"],
        "stock tf_keras": tf.saved_model.load(stock_dir).signatures[
            "serving_default"]}
    records = eval_records(config)
    print(f"model: {model_config.cell} x{model_config.layers}, "
          f"{model_config.units} units, initial state "
          f"{model_config.initial_state}, noise {model_config.noise} "
          f"(off at inference), conv branch {model_config.conv_filters} "
          f"filters (both models); {args.repeats} interleaved calls per batch "
          f"size; pushed {noisy_dir}")
    print(f"{'batch':>5} | {'model':<15} | {'p50 ms':>7} | {'p99 ms':>7}")
    ratios = {}
    for batch in BATCH_SIZES:
        inputs = tf.constant([records[i % len(records)]
                              for i in range(batch)])
        times = time_interleaved(functions, inputs, args.repeats)
        stats = {name: (np.percentile(t, 50), np.percentile(t, 99))
                 for name, t in times.items()}
        for name, (p50, p99) in stats.items():
            print(f"{batch:>5} | {name:<15} | {p50:7.3f} | {p99:7.3f}")
        noisy, stock = stats["noisy (pushed)"], stats["stock tf_keras"]
        ratios[batch] = (noisy[0] / stock[0], noisy[1] / stock[1])
    for batch, (p50, p99) in ratios.items():
        print(f"batch {batch}: noisy/stock p50 {p50:.3f}x, p99 {p99:.3f}x "
              f"(target <= 1.02)")


if __name__ == "__main__":
    main()
