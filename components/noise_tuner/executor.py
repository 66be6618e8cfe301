"""The Tuner's executor: TFX's search, plus what the report and the run's
progress line read."""

import json
import os

from absl import logging
from tfx.components.trainer import fn_args_utils
from tfx.components.tuner import executor as tfx_executor
from tfx.components.util import udf_utils
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import io_utils

from noisy_rnn.schemas import contracts


class Executor(tfx_executor.Executor):
    """Runs ``tuner_fn``'s search as TFX's executor does, with the tuner
    told where to write its progress (``progress_path``), then writes TFX's
    two outputs and ``tuning.json`` (the tuner's ``summary()`` and the
    example files it was given) beside TFX's ``tuner_results.json``."""

    def Do(self, input_dict, output_dict, exec_properties):
        if tfx_executor.get_tune_args(exec_properties):
            raise ValueError("TuneArgs is not supported by this Tuner's "
                             "Executor.")
        results_dir = artifact_utils.get_single_uri(
            output_dict[standard_component_specs.TUNER_RESULTS_KEY])
        fn_args = fn_args_utils.get_common_fn_args(
            input_dict, exec_properties, self._get_tmp_dir())
        result = udf_utils.get_fn(exec_properties, "tuner_fn")(fn_args)
        tuner = result.tuner
        tuner.progress_path = os.path.join(results_dir,
                                           contracts.TUNING_PROGRESS_FILE)
        tuner.search(**result.fit_kwargs)
        tfx_executor.write_best_hyperparameters(tuner, output_dict)
        summary = {**tuner.summary(), "files_read": {
            "train": list(fn_args.train_files),
            "validation": (list(fn_args.eval_files)
                           if tuner.read_validation else [])}}
        io_utils.write_string_file(
            os.path.join(results_dir, contracts.TUNING_FILE),
            json.dumps(summary, indent=1))
        logging.info("tuning: chose %s (%s)",
                     summary["trials"][summary["chosen"]]["setting"],
                     summary["reason"])
