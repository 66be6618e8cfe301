"""The report's HTML: one function per section, each naming what it could
not show (a part the run never produced, or one that could not be read)
instead of failing the page."""

import datetime
import html
import os

import numpy as np

from noisy_rnn.pipeline.ops import run_records
from noisy_rnn.pipeline.ops.report import collect, plots
from noisy_rnn.pipeline.trainer.progress import NOISE_STD_PREFIX
from noisy_rnn.schemas import contracts

SECTIONS = (("summary", "Run summary"), ("data", "Data"),
            ("tuning", "Tuning"), ("training", "Training"), ("evaluation", "Evaluation"),
            ("serving", "Serving"))
MAIN_METRICS = ("sparse_categorical_accuracy", "mean_absolute_error")
# Forecast plots drawn, at most (each ~0.2 s; a series per plot).
MAX_FORECAST_PLOTS = 8
# Reference forecasts in `collect.predictions` -> their names in the report.
REFERENCES = {"persistence": "persistence",
              contracts.LEAST_SQUARES_AR: "least-squares AR"}

STYLE = """
body { font-family: system-ui, sans-serif; margin: 0 auto; max-width: 1100px;
       padding: 0 1.5em 3em; color: #222; }
nav { position: sticky; top: 0; background: #fff; padding: .6em 0;
      border-bottom: 1px solid #ddd; }
nav a { margin-right: 1em; }
section { border-bottom: 1px solid #eee; padding-bottom: 1em; }
table { border-collapse: collapse; margin: .5em 0; font-size: 90%; }
th, td { border: 1px solid #ddd; padding: .2em .6em; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.ok { color: #2e7d32; } .bad { color: #c62828; font-weight: bold; }
.missing { color: #8d6e63; font-style: italic; }
.outcome { font-size: 120%; }
img { max-width: 100%; display: block; margin: .5em 0; }
pre { background: #f5f5f5; padding: .6em; overflow-x: auto; }
"""


def esc(value):
    return html.escape(str(value))


def num(value, digits=4):
    if value is None:
        return ""
    if isinstance(value, (int, np.integer)):
        return str(value)
    return f"{value:.{digits}g}"


def missing(what):
    return f'<p class="missing">Not available: {esc(what)}</p>'


def image(uri, alt):
    return f'<img src="{uri}" alt="{esc(alt)}">'


def table(header, rows, numeric=()):
    """``rows`` of already-escaped cells; ``numeric``: column indexes."""
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(
            f'<td class="num">{cell}</td>' if i in numeric else
            f"<td>{cell}</td>" for i, cell in enumerate(row)) + "</tr>"
        for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def page(title, nav, body):
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            f"<title>{esc(title)}</title><style>{STYLE}</style></head>"
            f"<body><nav>{nav}</nav><h1>{esc(title)}</h1>{body}</body></html>")


def section(key, title, content):
    return f'<section id="{key}"><h2>{esc(title)}</h2>{content}</section>'


def guarded(build, what):
    """``build()``, or a line saying why ``what`` could not be shown."""
    try:
        return build()
    except Exception as error:  # pylint: disable=broad-except
        first = str(error).strip().splitlines()[0] if str(error) else ""
        return missing(f"{what} could not be read: "
                       f"{type(error).__name__}: {first}")


class RunView:
    """One run's records, read once and shared by the sections."""

    def __init__(self, output, run, error, log_path):
        self.output, self.run, self.error = output, run, error
        self.log_path = log_path
        self.by_node = collect.executions(output, run.id)
        self.summary = run_records.summarize_latest_run(
            collect.store_config(output), run.id)
        self.spec, self.model_config = collect.trainer_settings(self.by_node)
        self.name = (self.spec.name if self.spec else
                     collect.pipeline_name(output) or os.path.basename(output))
        self.model_run = self.artifact("Trainer", "model_run")

    def artifact(self, node, key):
        return collect.output_artifact(self.output, self.by_node.get(node),
                                       key)

    def failed(self):
        return sorted(n for n, s in self.summary.states.items()
                      if s in ("failed", "canceled"))


def outcome(view):
    """Pushed where, or why not, in one line."""
    summary = view.summary
    if summary.pushed_path:
        return (f'<p class="outcome ok">Pushed version '
                f'{esc(os.path.basename(summary.pushed_path))} to '
                f'<code>{esc(summary.pushed_path)}</code></p>')
    reasons = []
    if view.failed():
        reasons.append(f"the run failed at {', '.join(view.failed())}")
    if view.error:
        reasons.append(view.error)
    if summary.blessed is False:
        reasons += [f"the Evaluator did not bless it: {r}"
                    for r in summary.refusals]
    if summary.serving_blessed is False:
        reasons += ["the ServingValidator refused it: " + line.strip()
                    for line in summary.serving_report.splitlines()
                    if "[FAIL]" in line or "error:" in line]
    if not reasons and "Pusher" not in summary.states:
        reasons.append("the run did not reach the Pusher")
    if not reasons and summary.pushed_path is None:
        reasons.append("the Pusher did not push (nothing new to serve)")
    items = "".join(f"<li>{esc(r)}</li>" for r in reasons)
    log = (f"<p>Log: <code>{esc(view.log_path)}</code></p>"
           if view.log_path else "")
    return f'<p class="outcome bad">Not pushed</p><ul>{items}</ul>{log}'


def summary_section(view):
    rows = collect.timeline(view.by_node)
    parts = [outcome(view)]
    if view.spec is not None:
        parts.append(f"<p>Dataset <b>{esc(view.spec.name)}</b> "
                     f"({esc(view.spec.task)}, {esc(view.spec.mode)} mode); "
                     f"output <code>{esc(view.output)}</code></p>")
    if not rows:
        return "".join(parts) + missing("no component ran in this run")
    parts.append(image(plots.timeline(rows), "component timeline"))
    parts.append(table(
        ["component", "state", "seconds"],
        [[esc(n), f'<span class="{"bad" if s == "failed" else "ok"}">'
          f'{esc(s)}</span>', num(end - start, 3)]
         for n, s, start, end in rows], numeric=(2,)))
    expected = ("SequenceExampleGen", "StatisticsGen", "ExampleValidator",
                "AnomaliesGate", "DriftGate", "Transform", "Trainer",
                "Evaluator", "ServingValidator", "Pusher")
    absent = [n for n in expected if n not in view.by_node]
    if absent:
        parts.append(missing("components that did not run: " +
                             ", ".join(absent)))
    return "".join(parts)


def data_section(view):
    parts = []
    counts = view.summary.example_counts
    split_counts = {key[len("examples_"):]: value
                    for key, value in counts.items()
                    if key.startswith("examples_")}
    if split_counts:
        parts.append(image(plots.examples_per_split(split_counts),
                           "examples per split"))
        skipped = counts.get(contracts.SKIPPED_WINDOWS)
        if skipped is not None:
            parts.append(f"<p>{skipped} windows skipped (a step gap or an "
                         f"empty value inside)</p>")
    else:
        parts.append(missing("example counts (SequenceExampleGen did not "
                             "finish)"))
    if view.summary.span is not None:
        parts.append(
            f"<p>Data: {esc(run_records.spans_text(view.summary))}</p>")
    statistics = view.artifact("StatisticsGen", "statistics")
    if statistics is None:
        parts.append(missing("per-feature statistics (StatisticsGen did not "
                             "finish)"))
    else:
        parts.append(guarded(lambda: statistics_tables(statistics.uri),
                             "per-feature statistics"))
    found = view.artifact("ExampleValidator", "anomalies")
    if found is None:
        parts.append(missing("anomalies (ExampleValidator did not finish)"))
    else:
        parts.append(guarded(lambda: anomalies_list(found.uri), "anomalies"))
    parts.append(drift_part(view.summary.drift))
    return "".join(parts)


def statistics_tables(uri):
    parts = ["<h3>Per-feature statistics</h3>"]
    for split, stats in collect.split_statistics(uri).items():
        rows = [[esc(r["feature"]), num(r["present"]), num(r["missing"]),
                 num(r["values"], 3), num(r["mean"]), num(r["std"]),
                 num(r["min"]), num(r["max"]), num(r["unique"])]
                for r in stats["rows"]]
        parts.append(f"<h4>{esc(split)}: {stats['examples']} examples</h4>")
        parts.append(table(["feature", "examples with it", "missing",
                            "values per example", "mean", "std", "min",
                            "max", "distinct"], rows,
                           numeric=range(1, 9)))
    return "".join(parts)


def anomalies_list(uri):
    found = collect.anomalies(uri)
    lines = [f"{split}: {line}" for split, split_lines in found.items()
             for line in split_lines]
    if not lines:
        return (f"<h3>Anomalies</h3><p class='ok'>none against the schema "
                f"({', '.join(found)} checked)</p>")
    return "<h3>Anomalies</h3><ul>" + "".join(
        f"<li class='bad'>{esc(line)}</li>" for line in lines) + "</ul>"


def drift_part(drift):
    if drift is None:
        return missing("the drift check (DriftGate did not run)")
    if not drift.get("compared"):
        return (f"<h3>Drift</h3><p>Skipped: "
                f"{esc(drift.get('reason', ''))}</p>")
    rows = [[esc(d["split"]), esc(d["feature"]), esc(d.get("measure", "")),
             num(d["value"], 3), num(d["threshold"], 3),
             "<span class='bad'>over</span>" if d["exceeded"] else
             "<span class='ok'>ok</span>"] for d in drift["drifts"]]
    return ("<h3>Drift against the served model's training data</h3>" +
            table(["split", "feature", "measure", "distance", "threshold",
                   ""], rows, numeric=(3, 4)))


def tuning_section(view):
    """The Tuner's trials (settings, each run's validation loss, mean and
    sd, the round kept), the chosen one and why, and whether noise
    helped."""
    tuning = view.summary.tuning
    if tuning is None:
        return ("<p>No Tuner in this run: the model options were used as "
                "given (<code>--tune</code> lets a Tuner choose the noise, "
                "initial state and sizes on the validation data).</p>")
    # Imported here: it loads KerasTuner and the Trainer's code.
    from noisy_rnn.pipeline.trainer.tuning import noise_sentence
    rows = []
    for index, trial in enumerate(tuning["trials"]):
        chosen = index == tuning["chosen"]
        rows.append([
            str(index + 1) + (" <b>chosen</b>" if chosen else ""),
            esc(run_records.setting_text(trial["setting"])),
            esc(" ".join(f"{loss:.4g}" for loss in trial["losses"])),
            f"{num(trial['mean'])} &plusmn; {num(trial['sd'], 2)}",
            esc(" ".join(str(s) for s in trial.get("kept_steps", []))),
            f"{trial['seconds']:.1f}"])
    return "".join([
        f"<p><b>{esc(noise_sentence(tuning))}</b></p>",
        f"<p>{len(tuning['trials'])} settings, each scored by "
        f"{esc(tuning['protocol'])} ({esc(tuning['steps'])}; the eval split "
        f"is never read); {tuning['seconds']:.0f} s in all. Chosen: "
        f"{esc(tuning['reason'])}.</p>",
        table(["trial", "setting", f"{tuning['objective']} per run",
               "mean ± sd", "round kept (step; 0: the linear path "
               "alone)", "seconds"], rows, numeric=(3, 5))])


def training_section(view):
    if view.model_run is None:
        return missing("training (the Trainer did not finish)")
    parts = []
    # What the Trainer was given, with the values it resolved (those left
    # to the data) as it recorded them.
    config = {**(view.model_config or {}),
              **(collect.read_json(view.model_run.uri,
                                   contracts.MODEL_CONFIG_FILE) or {})}
    if config:
        chosen = collect.read_json(view.model_run.uri,
                                   contracts.DATA_CHOICES_FILE) or {}
        keys = ("cell", "units", "layers", "initial_state", "noise",
                "noise_std",
                "noise_std_trainable", "downsample", "conv_filters",
                "rocket_features", "autoregressive", "ema_decay",
                "batch_size", "train_steps", "eval_every",
                "early_stopping_patience")
        # The linear path's entry says what was fitted, not a new value.
        fitted = ("rocket_features", "autoregressive")
        parts.append(table(
            ["setting", "value", "chosen from the data"],
            [[esc(k), esc(config.get(k)),
              esc((f"{chosen[k]['value']}: " if k in fitted else "") +
                  chosen[k]["reason"]) if k in chosen else ""]
             for k in keys if k in config]))
    if view.summary.warm_start:
        parts.append(f"<p>Warm start: "
                     f"{esc(view.summary.warm_start.get('reason', ''))}</p>")
    history = collect.read_json(view.model_run.uri, contracts.HISTORY_FILE)
    if not history or not history.get("step"):
        return "".join(parts) + missing("the eval rounds (history.json)")
    metric = next(k for k in history
                  if k.startswith("val_") and k != "val_loss")
    kept, note = kept_round(history, config)
    parts.append(f"<p>{esc(note)}</p>")
    if view.spec is not None and view.spec.task == "regression":
        parts.append("<p>The validation loss and MAE here are in the "
                     "Trainer's units (the z-scored target); the Evaluation "
                     "section has the MAE in the label's own units.</p>")
    parts.append(image(plots.training_curves(history, metric, kept),
                       "training curves"))
    stds = [k for k in history if k.startswith(NOISE_STD_PREFIX)]
    if stds:
        parts.append("<h3>Learned noise std per layer</h3>")
        parts.append(image(plots.noise_std(history, stds), "noise std"))
    elif config.get("noise_std_trainable"):
        parts.append(missing("the noise std per round (not recorded by "
                             "this Trainer)"))
    else:
        parts.append(f"<p>Noise std fixed at {esc(config.get('noise_std'))}"
                     f" ({esc(config.get('noise'))} noise; "
                     f"<code>--noise-std-trainable</code> learns it)</p>")
    parts.append(f"<p>TensorBoard: <code>tensorboard --logdir "
                 f"{esc(view.model_run.uri)}</code></p>")
    return "".join(parts)


def kept_round(history, config):
    """The step whose weights were kept, and a sentence about it."""
    steps, losses = history["step"], history["val_loss"]
    total = config.get("train_steps")
    if not config.get("early_stopping_patience"):
        return None, (f"No early stopping: all {steps[-1]} steps ran, the "
                      f"last weights kept.")
    best = int(np.argmin(losses))
    stopped = (f"stopped early at step {steps[-1]} of {total}"
               if total and steps[-1] < total else
               f"ran all {steps[-1]} steps")
    return steps[best], (f"Early stopping kept step {steps[best]} "
                         f"(lowest validation loss {losses[best]:.4g}); "
                         f"{stopped}." + path_candidates(history, best))


def path_candidates(history, best):
    """Beside a linear path, which candidate the kept round was (see
    `noisy_rnn.pipeline.trainer.training.train`); else empty."""
    if contracts.HISTORY_WITH_PATH not in history:
        return ""
    with_path = history[contracts.HISTORY_WITH_PATH][best]
    alone = history[contracts.HISTORY_BRANCHES_ALONE][best]
    if history[contracts.HISTORY_PATH_DROPPED][best]:
        kept = "the trained branches alone: the linear path was dropped"
    elif history["step"][best] == 0:
        kept = "the linear path alone (no step trained yet)"
    else:
        kept = "the linear path and the trained branches together"
    return (f" It is {kept} (validation loss with the path {with_path:.4g},"
            f" the branches alone {alone:.4g}).")


def evaluation_section(view):
    evaluation = view.artifact("Evaluator", "evaluation")
    if evaluation is None:
        return missing("the evaluation (the Evaluator did not finish)")
    summary = view.summary
    parts = []
    rows = collect.evaluation_rows(view.by_node.get("Evaluator"),
                                   evaluation.uri, summary.metrics)
    parts.append(table(
        ["metric", "candidate", "baseline", "threshold", ""],
        [[esc(r["name"]), num(r["candidate"]), num(r["baseline"]),
          esc(r["threshold"] or ""),
          "<span class='bad'>failed</span>" if r["failed"] else
          ("<span class='ok'>passed</span>" if r["threshold"] else "")]
         for r in rows], numeric=(1, 2)))
    if summary.baseline_model_id is None:
        parts.append("<p>No baseline: nothing was pushed before this run.</p>")
    else:
        parts.append(f"<p>Baseline: the latest pushed model (Model artifact "
                     f"{summary.baseline_model_id}).</p>")
    parts.append("<p>Blessed: " + (
        "<span class='ok'>yes</span>" if summary.blessed else
        "<span class='bad'>no</span>") + "</p>")
    for reason in summary.refusals:
        parts.append(f"<p class='bad'>{esc(reason)}</p>")
    parts.append(guarded(lambda: prediction_plots(view), "the predictions"))
    return "".join(parts)


def served_outputs_path(view, model_id):
    """Where the ServingValidator of this run wrote ``model_id`` 's
    outputs on the eval split (it did only after checking that model), or
    None."""
    blessing = view.artifact("ServingValidator", "blessing")
    if blessing is None or blessing.custom_properties[
            contracts.CURRENT_MODEL_ID].int_value != model_id:
        return None
    return os.path.join(blessing.uri, contracts.SERVING_EVAL_OUTPUTS)


def prediction_plots(view):
    model = view.artifact("Trainer", "model")
    examples = view.artifact("SequenceExampleGen", "examples")
    if model is None or examples is None or view.spec is None:
        return missing("eval predictions (no trained model)")
    found = collect.predictions(view.output, model.uri, model.id,
                                examples.uri, view.spec,
                                served=served_outputs_path(view, model.id))
    if found is None:
        return missing("eval predictions (no eval examples)")
    if view.spec.task == "classification":
        names = sorted(set(found["truth"]) | set(found["predicted"]),
                       key=lambda c: (len(c), c))
        index = {name: i for i, name in enumerate(names)}
        matrix = np.zeros((len(names), len(names)), dtype=int)
        for truth, predicted in zip(found["truth"], found["predicted"]):
            matrix[index[truth], index[predicted]] += 1
        per_class = matrix.diagonal() / np.maximum(matrix.sum(1), 1)
        return ("<h3>Where the model errs (eval split)</h3>" +
                image(plots.confusion_matrix(matrix, names),
                      "confusion matrix") +
                image(plots.per_class_accuracy(names, per_class),
                      "per-class accuracy"))
    return regression_plots(found, view.spec)


def regression_plots(found, spec):
    """The regression part of the evaluation section from
    `collect.predictions`' ``found``: for a target per sequence one
    predicted-vs-actual plot; for forecasting windows a plot per series
    (at most `MAX_FORECAST_PLOTS`, the rest named by count) with each
    reference forecast's MAE."""
    if spec.mode == "sequences":  # one value per sequence
        actual = np.array(found["actual"], float)
        predicted = np.array(found["predicted"], float)
        return ("<h3>Predicted vs actual (eval sequences)</h3>"
                f"<p>model MAE {np.mean(np.abs(predicted - actual)):.4g} "
                f"over {len(actual)} sequences</p>" +
                image(plots.actual_vs_predicted(actual, predicted,
                                                spec.label),
                      "predicted vs actual"))
    parts = ["<h3>Forecast vs actual (eval windows)</h3>"]
    series = np.array(found["series"])
    names = sorted(set(found["series"]))
    if len(names) > MAX_FORECAST_PLOTS:
        parts.append(f"<p>{len(names)} series: the first "
                     f"{MAX_FORECAST_PLOTS} by name are drawn (the "
                     f"Evaluator's metrics cover them all)</p>")
    for name in names[:MAX_FORECAST_PLOTS]:
        chosen = series == name
        order = np.argsort(np.array(found["step"])[chosen])
        pick = lambda key: np.array(found[key], float)[chosen][order]  # noqa: E731
        actual, predicted = pick("actual"), pick("predicted")
        references = {title: pick(key) for key, title in REFERENCES.items()
                      if found.get(key)}
        model_mae = np.mean(np.abs(predicted - actual))
        line = f"series {esc(name)}: model MAE {model_mae:.4g}" + "".join(
            f", {title} MAE {np.mean(np.abs(values - actual)):.4g}"
            for title, values in references.items())
        parts.append(f"<p>{line} over {len(actual)} windows</p>")
        parts.append(image(plots.forecast(
            np.array(found["step"])[chosen][order], actual, predicted,
            references, spec.label), f"forecast {name}"))
    return "".join(parts)


def serving_section(view):
    infra = view.artifact("ServingValidator", "blessing")
    parts = []
    if infra is None:
        parts.append(missing("the serving checks (the ServingValidator did "
                             "not run)"))
    else:
        report = collect.read_json(infra.uri, contracts.SERVING_REPORT_JSON)
        if report is None:
            parts.append(missing(f"{contracts.SERVING_REPORT_JSON} in "
                                 f"{infra.uri}"))
        else:
            parts.append(serving_checks(report))
    output = view.output
    served = os.path.join(output, "serving", view.name)
    if view.summary.pushed_path:
        parts.append("<h3>How to serve it</h3>")
    elif os.path.isdir(served) and os.listdir(served):
        parts.append(f"<h3>How to serve the model pushed earlier</h3><p>This "
                     f"run pushed nothing; <code>{esc(served)}</code> holds "
                     f"the versions pushed before it.</p>")
    else:
        parts.append("<h3>How to serve</h3><p>Nothing pushed yet in "
                     f"<code>{esc(output)}</code>: no model to serve.</p>")
        return "".join(parts)
    dataset = view.spec.path if view.spec else view.name
    parts.append(
        "<pre>"
        f"noisy-rnn deploy-config --output {esc(output)}\n"
        f"sh {esc(os.path.join(output, 'deploy', 'docker-run.sh'))}"
        "   # TF Serving in Docker: REST :8501, gRPC :8500\n"
        f"noisy-rnn predict --dataset {esc(dataset)} --csv new.csv "
        f"--target http://localhost:8501\n"
        f"noisy-rnn predict --dataset {esc(dataset)} --csv new.csv "
        f"--target {esc(served)}   # the SavedModel, no server</pre>")
    return "".join(parts)


def serving_checks(report):
    parts = []
    if report.get("skipped"):
        parts.append(f"<p>Skipped: {esc(report['skipped'])}</p>")
    if report.get("error"):
        parts.append(f"<p class='bad'>Error: {esc(report['error'])}</p>")
    parts.append(table(
        ["check", "", "detail"],
        [[esc(c["name"]), "<span class='ok'>passed</span>" if c["passed"]
          else "<span class='bad'>failed</span>", esc(c["detail"])]
         for c in report.get("checks", [])]))
    latency = report.get("latency_ms") or {}
    if latency:
        parts.append("<h3>Latency (clean process, ms)</h3>" + table(
            ["percentile, batch", "ms"],
            [[esc(k.replace("_batch_", ", batch ")), num(v, 3)]
             for k, v in sorted(latency.items())], numeric=(1,)))
    return "".join(parts)


def nav(current):
    links = "".join(f'<a href="#{k}">{esc(t)}</a>' for k, t in SECTIONS) \
        if current == "run" else '<a href="index.html">Latest run</a>'
    return links + ('<a href="history.html">History of all runs</a>'
                    if current == "run" else "")


def render_run(output, error=None, log_path=None):
    """The latest run's page (a page naming what is missing when there is
    no run, or only part of one)."""
    runs = collect.list_runs(output)
    if not runs:
        why = (f"no run in {output} (no MLMD store there): run `noisy-rnn "
               f"run --output {output}` first")
        if error:
            why = f"{error}; {why}"
        body = "".join(section(k, t, missing(why)) for k, t in SECTIONS)
        return page("noisy-rnn run report", nav("run"), body)
    try:
        view = RunView(output, runs[-1], error, log_path)
    except Exception as failure:  # pylint: disable=broad-except
        body = "".join(section(k, t, missing(
            f"the run's records could not be read: {failure}"))
            for k, t in SECTIONS)
        return page("noisy-rnn run report", nav("run"), body)
    builders = {"summary": summary_section, "data": data_section,
                "tuning": tuning_section, "training": training_section,
                "evaluation": evaluation_section,
                "serving": serving_section}
    body = "".join(section(k, t, guarded(lambda b=builders[k]: b(view), t))
                   for k, t in SECTIONS)
    started = datetime.datetime.fromtimestamp(
        runs[-1].create_time_since_epoch / 1000).strftime("%Y-%m-%d %H:%M:%S")
    return page(f"{view.name}: run of {started}", nav("run"), body)


def render_history(output):
    """Every run in ``output``: outcome, metric, pushed version, reasons."""
    runs = collect.list_runs(output)
    if not runs:
        return page("noisy-rnn run history", nav("history"),
                    section("history", "History",
                            missing(f"no run in {output}")))
    rows, points, metric = [], [], None
    for run in runs:
        started = datetime.datetime.fromtimestamp(
            run.create_time_since_epoch / 1000)
        try:
            summary = run_records.summarize_latest_run(
                collect.store_config(output), run.id)
        except Exception as error:  # pylint: disable=broad-except
            rows.append([esc(started.strftime("%F %T")), "", "", "", "",
                         esc(f"records unreadable: {error}")])
            continue
        metric = metric or next((m for m in MAIN_METRICS
                                 if m in summary.metrics), None)
        value = summary.metrics.get(metric) if metric else None
        version = (os.path.basename(summary.pushed_path)
                   if summary.pushed_path else "")
        failed = sorted(n for n, s in summary.states.items()
                        if s in ("failed", "canceled"))
        if summary.pushed_path:
            reason = "pushed"
        elif failed:
            reason = f"failed at {', '.join(failed)}"
        elif summary.refusals:
            reason = "not blessed: " + "; ".join(summary.refusals)
        elif summary.serving_blessed is False:
            reason = "refused by the ServingValidator"
        elif summary.states and not summary.executed():
            reason = "all cached: nothing new"
        else:
            reason = "not pushed"
        executed = len(summary.executed())
        rows.append([esc(started.strftime("%F %T")), esc(executed),
                     num(value), esc(version),
                     esc(summary.span if summary.span is not None else ""),
                     f"<span class='{'ok' if version else 'bad'}'>"
                     f"{esc(reason)}</span>"])
        if value is not None:
            points.append((started, value, version))
    parts = []
    if points:
        parts.append(image(plots.history_metric(points, metric),
                           "metric over runs"))
    else:
        parts.append(missing("a metric over runs (no run was evaluated)"))
    parts.append(table(["run started", "components executed",
                        metric or "metric", "pushed version", "span",
                        "outcome"], rows, numeric=(1, 2)))
    return page("noisy-rnn run history", nav("history"),
                section("history", f"All {len(runs)} runs in {output}",
                        "".join(parts)))
