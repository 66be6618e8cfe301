"""The report's figures, drawn with matplotlib and embedded as PNG data URIs
(the page opens from disk, with no network and no files beside it).

Matplotlib's object API (`Figure` + the Agg canvas), not ``pyplot``: no
global backend is switched and no figure outlives its function.
"""

import base64
import io

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from noisy_rnn.schemas import contracts

STATE_COLORS = {"complete": "#2e7d32", "cached": "#9e9e9e",
                "failed": "#c62828", "running": "#f9a825",
                "canceled": "#6d4c41"}


def _figure(width=7.0, height=3.0):
    figure = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(figure)
    return figure


def to_data_uri(figure):
    """The figure as a ``data:image/png;base64,...`` URI."""
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return "data:image/png;base64," + base64.b64encode(
        buffer.getvalue()).decode("ascii")


def timeline(rows):
    """Components as bars from start to end (seconds since the run began),
    coloured by state. ``rows``: ``[(name, state, start, end)]``."""
    figure = _figure(7.5, 0.3 * len(rows) + 1.0)
    axes = figure.add_subplot()
    for i, (name, state, start, end) in enumerate(rows):
        axes.barh(i, max(end - start, 0.05), left=start, height=0.6,
                  color=STATE_COLORS.get(state, "#1565c0"))
        axes.text(end + 0.3, i, f"{end - start:.1f} s ({state})",
                  va="center", fontsize=8)
    axes.set_yticks(range(len(rows)), [row[0] for row in rows], fontsize=8)
    axes.invert_yaxis()
    axes.set_xlabel("seconds since the run started")
    right = max((row[3] for row in rows), default=1.0)
    axes.set_xlim(0, right * 1.25 + 1)
    return to_data_uri(figure)


def examples_per_split(counts):
    """Bar chart ``{split: examples}``."""
    figure = _figure(4.0, 2.4)
    axes = figure.add_subplot()
    splits = list(counts)
    bars = axes.bar(splits, [counts[s] for s in splits], color="#1565c0")
    axes.bar_label(bars, fontsize=8)
    axes.set_ylabel("examples")
    return to_data_uri(figure)


def training_curves(history, metric, kept_step=None):
    """Train and validation loss, and the validation metric, per round;
    ``kept_step``: the round whose weights were kept (early stopping)."""
    figure = _figure(8.0, 3.0)
    loss_axes, metric_axes = figure.subplots(1, 2)
    steps = history["step"]
    loss_axes.plot(steps, history["train_loss"], "o-", label="train loss")
    loss_axes.plot(steps, history["val_loss"], "o-", label="validation loss")
    for key, label in ((contracts.HISTORY_WITH_PATH, "with the path"),
                       (contracts.HISTORY_BRANCHES_ALONE,
                        "the branches alone")):
        if key in history:  # beside a linear path: each candidate
            loss_axes.plot(steps, history[key], "--", linewidth=0.8,
                           label=f"validation, {label}")
    metric_axes.plot(steps, history[metric], "o-", color="#6a1b9a",
                     label=metric.replace("_", " "))
    for axes in (loss_axes, metric_axes):
        if kept_step is not None:
            axes.axvline(kept_step, color="#c62828", linestyle="--",
                         label=f"kept: step {kept_step}")
        axes.set_xlabel("training step")
        axes.legend(fontsize=8)
        axes.grid(alpha=0.3)
    loss_axes.set_ylabel("loss")
    return to_data_uri(figure)


def _label(axes, xlabel, ylabel):
    """Axis labels, a small legend and a light grid."""
    if xlabel:
        axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    axes.legend(fontsize=8)
    axes.grid(alpha=0.3)


def noise_std(history, keys):
    """The learned noise std of each layer per eval round."""
    figure = _figure(5.0, 2.6)
    axes = figure.add_subplot()
    for key in keys:
        axes.plot(history["step"], history[key], "o-", label=key)
    _label(axes, "training step", "noise std")
    return to_data_uri(figure)


def confusion_matrix(matrix, class_names):
    """Counts, true class by row, predicted by column."""
    size = max(3.0, 0.45 * len(class_names) + 1.5)
    figure = _figure(size + 0.8, size)
    axes = figure.add_subplot()
    image = axes.imshow(matrix, cmap="Blues")
    figure.colorbar(image, ax=axes, fraction=0.046)
    ticks = range(len(class_names))
    axes.set_xticks(ticks, class_names, fontsize=8)
    axes.set_yticks(ticks, class_names, fontsize=8)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    high = matrix.max() if matrix.size else 0
    for (row, column), count in np.ndenumerate(matrix):
        if count:
            axes.text(column, row, str(count), ha="center", va="center",
                      fontsize=7,
                      color="white" if count > high / 2 else "black")
    return to_data_uri(figure)


def per_class_accuracy(class_names, accuracy):
    figure = _figure(5.0, 2.6)
    axes = figure.add_subplot()
    axes.bar(class_names, accuracy, color="#2e7d32")
    axes.set_ylim(0, 1.05)
    axes.set_xlabel("class")
    axes.set_ylabel("accuracy on eval")
    axes.grid(axis="y", alpha=0.3)
    return to_data_uri(figure)


def forecast(steps, actual, predicted, references, label):
    """Forecast, actual and the reference forecasts (``{name: values}``,
    e.g. persistence and the least-squares AR) over the eval windows (one
    series), and each one's absolute error."""
    figure = _figure(8.0, 4.2)
    values, errors = figure.subplots(2, 1, sharex=True,
                                     gridspec_kw={"height_ratios": [2, 1]})
    values.plot(steps, actual, color="black", linewidth=1.2, label="actual")
    values.plot(steps, predicted, color="#1565c0", linewidth=1,
                label="model forecast")
    errors.plot(steps, np.abs(predicted - actual), color="#1565c0",
                linewidth=0.8, label="|model - actual|")
    for (name, reference), (color, style) in zip(
            references.items(), (("#ef6c00", "--"), ("#2e7d32", ":"))):
        values.plot(steps, reference, color=color, linewidth=0.8,
                    linestyle=style, label=name)
        errors.plot(steps, np.abs(reference - actual), color=color,
                    linewidth=0.8, linestyle=style,
                    label=f"|{name} - actual|")
    _label(values, None, label)
    _label(errors, "target step", "absolute error")
    return to_data_uri(figure)


def actual_vs_predicted(actual, predicted, label):
    """Each eval sequence's prediction against its actual value (sequence
    regression: one value per sequence), with the line of perfect ones."""
    figure = _figure(4.8, 4.2)
    axes = figure.add_subplot()
    axes.scatter(actual, predicted, s=10, color="#1565c0", alpha=0.7,
                 label="eval sequences")
    low = float(min(np.min(actual), np.min(predicted)))
    high = float(max(np.max(actual), np.max(predicted)))
    axes.plot([low, high], [low, high], color="black", linewidth=0.8,
              label="predicted = actual")
    _label(axes, f"actual {label}", f"predicted {label}")
    return to_data_uri(figure)


def history_metric(rows, metric):
    """A metric over runs: pushed runs filled and labelled with their
    version, the others hollow. ``rows``: ``[(time, value, version)]``."""
    figure = _figure(7.0, 2.8)
    axes = figure.add_subplot()
    times = [row[0] for row in rows]
    axes.plot(times, [row[1] for row in rows], color="#9e9e9e",
              linewidth=0.8)
    for time, value, version in rows:
        if version:
            axes.plot(time, value, "o", color="#2e7d32")
            axes.annotate(f"v{version}", (time, value), fontsize=7,
                          xytext=(3, 4), textcoords="offset points")
        else:
            axes.plot(time, value, "o", markerfacecolor="white",
                      color="#c62828")
    axes.set_ylabel(metric.replace("_", " "))
    axes.set_xlabel("run started")
    axes.grid(alpha=0.3)
    figure.autofmt_xdate()
    return to_data_uri(figure)
