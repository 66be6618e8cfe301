# Single entry point. Every target creates the venv from requirements.lock
# first if it is missing or older than the lock.
#
#   make run    the TFX pipeline on JapaneseVowels -> runs/jv (pushed model)
#   make test   the test suite (unit and end-to-end)
#   make test-unit  the unit tests only (under a minute)
#   make wheel  the installable wheel -> dist/
#   make demo   plain-Keras look: stock vs noisy GRUs on JapaneseVowels
#   make bench  layer speed benchmark (prints a table)
#   make serving-bench  pushed noisy model vs stock GRU serving latency
#   make pipeline-bench  wall time of 5 fresh JapaneseVowels runs + 2 reruns
#   make airflow-venv  .venv-airflow: Airflow 2 + this project (deploy/airflow/)

VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# Airflow's own environment, from its own lock (deploy/airflow/).
AIRFLOW_VENV  := .venv-airflow
AIRFLOW_STAMP := $(AIRFLOW_VENV)/.installed

# Python 3.10 is required (TFX 1.16.0 wheels). Looked for, in order: $PYTHON,
# python3.10 on PATH, pyenv's 3.10.x installs. Each candidate must report 3.10.
find_python310 = $(shell for c in "$$PYTHON" python3.10 \
    $$(ls -d "$$HOME"/.pyenv/versions/3.10.*/bin/python3.10 2>/dev/null | sort -V -r); do \
      [ -n "$$c" ] && "$$c" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 10))' \
        >/dev/null 2>&1 && { command -v "$$c" || echo "$$c"; } && break; \
    done)

.PHONY: venv airflow-venv run demo test test-unit wheel bench serving-bench pipeline-bench lock data clean

venv: $(STAMP)

# uv (pinned in the lock) installs the lock: from its cache in seconds,
# where pip takes minutes to unpack the same 3 GB of wheels. Unlike pip, uv
# writes no bytecode unless asked: without it, and where
# PYTHONDONTWRITEBYTECODE is set (some machines set it), every process that
# imports TFX compiles ~5,500 modules again (~8 s of each run's start-up).
$(STAMP): requirements.lock setup.py
	@py="$(find_python310)"; \
	if [ -z "$$py" ]; then \
	  echo "error: Python 3.10 not found (TFX 1.16.0 needs it). Install it," \
	       "e.g. 'pyenv install 3.10.13', or set PYTHON=/path/to/python3.10." >&2; \
	  exit 1; \
	fi; \
	if [ ! -x $(PY) ]; then echo "creating $(VENV) with $$py"; "$$py" -m venv $(VENV) || exit 1; fi
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps \
	  "$$(grep -m1 '^uv==' requirements.lock | cut -d' ' -f1)"
	$(VENV)/bin/uv pip install --quiet --compile-bytecode --python $(PY) --no-deps \
	  -r requirements.lock
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	$(PY) -m pip check
	touch $(STAMP)

airflow-venv: $(AIRFLOW_STAMP)

# The same recipe for Airflow's environment: its lock, then this project
# (editable), so `airflow dags test` runs the DAG in deploy/airflow/.
$(AIRFLOW_STAMP): deploy/airflow/requirements.lock setup.py $(STAMP)
	@py="$(find_python310)"; \
	if [ ! -x $(AIRFLOW_VENV)/bin/python ]; then "$$py" -m venv $(AIRFLOW_VENV) || exit 1; fi
	$(VENV)/bin/uv pip install --quiet --compile-bytecode \
	  --python $(AIRFLOW_VENV)/bin/python --no-deps -r deploy/airflow/requirements.lock
	$(AIRFLOW_VENV)/bin/python -m pip install --quiet --disable-pip-version-check \
	  --no-deps --no-build-isolation -e .
	$(AIRFLOW_VENV)/bin/python -m pip check
	touch $(AIRFLOW_STAMP)

run: $(STAMP)
	$(VENV)/bin/noisy-rnn run --dataset japanese_vowels --output runs/jv $(RUN_ARGS)

demo: $(STAMP)
	$(VENV)/bin/noisy-rnn demo

# --durations: the slowest tests, in every run's output (CI's too).
test: $(STAMP) $(AIRFLOW_STAMP)
	$(PY) -m pytest tests -n 2 --dist loadgroup --durations=25 $(PYTEST_ARGS)

test-unit: $(STAMP)
	$(PY) -m pytest tests -m "not e2e" $(PYTEST_ARGS)

# The wheel users install (with the lock as constraints; see README).
wheel: $(STAMP)
	$(PY) -m pip wheel --quiet --disable-pip-version-check --no-deps \
	  --no-build-isolation -w dist .

bench: $(STAMP)
	$(PY) bench/layers_bench.py

# Uses the model pushed under runs/jv (runs the pipeline first if none).
serving-bench: $(STAMP)
	$(PY) bench/serving_bench.py --output runs/jv

pipeline-bench: $(STAMP)
	$(PY) bench/pipeline_time.py --runs 5

# Regenerates the lock from requirements.in with the venv's uv.
# Airflow's lock starts from this one's pins (uv keeps what it can).
lock: $(STAMP)
	$(VENV)/bin/uv pip compile --python-version 3.10 --python-platform x86_64-manylinux_2_28 \
	  --no-header --annotation-style line requirements.in -o requirements.lock
	cp requirements.lock deploy/airflow/requirements.lock.new
	$(VENV)/bin/uv pip compile --python-version 3.10 --python-platform x86_64-manylinux_2_28 \
	  --no-header --annotation-style line deploy/airflow/requirements.in \
	  -o deploy/airflow/requirements.lock.new
	mv deploy/airflow/requirements.lock.new deploy/airflow/requirements.lock

# Rebuilds data/japanese_vowels.csv from the raw UEA files.
data:
	python3 data/convert_japanese_vowels.py --source ../shared/data/japanese_vowels \
	  --output data/japanese_vowels.csv

clean:
	rm -rf $(VENV) $(AIRFLOW_VENV) .pytest_cache *.egg-info build dist
