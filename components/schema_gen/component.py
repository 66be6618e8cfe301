"""TFX's SchemaGen, minus the splits without examples.

SchemaGen infers the schema from the first split and updates it with each
other one, and TFDV's ``update_schema`` marks every feature a split lacks
as deprecated: an empty split (a validation slice with no training
sequence to spare, e.g. one per class) would deprecate the whole schema,
and Transform would then find no feature. The validation slice still
counts when it has examples: its sequence ids belong in the inferred id
domain, or ExampleValidator would flag them.
"""

from tfx.components.schema_gen import component, executor
from tfx.components.statistics_gen import stats_artifact_utils
from tfx.dsl.components.base import executor_spec
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import json_utils


def empty_splits(statistics):
    """The split names of a statistics artifact whose dataset has no
    examples."""
    return [split for split in artifact_utils.decode_split_names(
                statistics.split_names)
            if not stats_artifact_utils.load_statistics(
                statistics, split).proto().datasets[0].num_examples]


class Executor(executor.Executor):
    """SchemaGen's executor with the empty splits excluded too."""

    def Do(self, input_dict, output_dict, exec_properties):
        key = standard_component_specs.EXCLUDE_SPLITS_KEY
        excluded = json_utils.loads(exec_properties.get(key, "null")) or []
        statistics = artifact_utils.get_single_instance(
            input_dict[standard_component_specs.STATISTICS_KEY])
        excluded += [split for split in empty_splits(statistics)
                     if split not in excluded]
        super().Do(input_dict, output_dict,
                   {**exec_properties, key: json_utils.dumps(excluded)})


class SchemaGen(component.SchemaGen):
    """TFX's SchemaGen (same spec and outputs) that skips empty splits."""

    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)
