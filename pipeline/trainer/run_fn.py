"""The TFX Trainer's entry point (``run_fn``): build, warm-start, train,
export with noise-free serving signatures, and record what was done."""

import dataclasses
import json
import os

import tensorflow as tf
import tensorflow_transform as tft
import tf_keras
from absl import logging
from tfx.components.trainer.fn_args_utils import FnArgs

from noisy_rnn.pipeline.config import ModelConfig
from noisy_rnn.pipeline.trainer import signatures
from noisy_rnn.pipeline.trainer.architecture import build_model
from noisy_rnn.pipeline.trainer.inputs import input_fn
from noisy_rnn.pipeline.trainer.serving_reference import \
    write_serving_reference
from noisy_rnn.pipeline.trainer.training import train
from noisy_rnn.pipeline.trainer.warm_start import warm_start
from noisy_rnn.schemas import contracts
from noisy_rnn.schemas.dataset_spec import DatasetSpec


def run_fn(fn_args: FnArgs):
    """Trains (early stopping on the eval split unless turned off) and
    exports the model with noise-free serving signatures (TFX Trainer entry
    point).

    ``fn_args.custom_config``: ``{"model": ModelConfig fields, "dataset":
    DatasetSpec fields}``.
    """
    config = ModelConfig(**fn_args.custom_config["model"])
    spec = DatasetSpec.from_dict(fn_args.custom_config["dataset"])
    tf_keras.utils.set_random_seed(config.seed)
    tf_transform_output = tft.TFTransformOutput(fn_args.transform_output)

    class_names = []
    if spec.task == "classification":
        class_names = [c.decode() if isinstance(c, bytes) else c for c in
                       tf_transform_output.vocabulary_by_name(
                           contracts.LABEL_VOCABULARY)]
    model = build_model(config, len(spec.features), len(class_names) or 1)

    started = warm_start(model, fn_args.base_model)
    logging.info("warm start: %s", started)
    train_data = input_fn(fn_args.train_files, fn_args.data_accessor,
                          tf_transform_output, spec, config.batch_size,
                          training=True, seed=config.seed)
    eval_data = input_fn(fn_args.eval_files, fn_args.data_accessor,
                         tf_transform_output, spec, config.batch_size,
                         training=False)
    config = dataclasses.replace(
        config, train_steps=fn_args.train_steps or config.train_steps)
    history = train(model, train_data, eval_data, config,
                    fn_args.model_run_dir)

    # Layer traces are not needed to serve or evaluate: the signatures are.
    model.save(fn_args.serving_model_dir, save_format="tf", save_traces=False,
               signatures=signatures.make_serving_signatures(
                   model, tf_transform_output, spec, class_names))
    with tf.io.gfile.GFile(os.path.join(fn_args.model_run_dir,
                                        contracts.HISTORY_FILE), "w") as f:
        json.dump(history, f)
    model.save_weights(os.path.join(
        os.path.dirname(fn_args.serving_model_dir),
        contracts.WARM_START_WEIGHTS))
    for name, values in (
            (contracts.MODEL_CONFIG_FILE, dataclasses.asdict(config)),
            (contracts.WARM_START_FILE, started)):
        with tf.io.gfile.GFile(os.path.join(fn_args.model_run_dir, name),
                               "w") as f:
            json.dump(values, f)
    write_serving_reference(
        model, fn_args.eval_files, tf_transform_output, spec,
        os.path.join(fn_args.model_run_dir, contracts.SERVING_REFERENCE_DIR))
