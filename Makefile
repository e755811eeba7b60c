# One entry point for people and CI. `make run` and `make test` set everything up first.
SHELL := /bin/bash
.DEFAULT_GOAL := run

PYTHON ?= python3.11
SHARED ?= $(abspath ../shared)
VENV := .venv
BIN := $(abspath $(VENV))/bin
WEIGHTS_FILE := mobilenet_v2_1.0_224_no_top.imagenet_from_slim_ckpt.weights.h5
SAMPLE_DIR := data/01_raw/fruits-360
NOFRUIT_DIR := data/01_raw/backgrounds
REAL_TRAIN_DIR := data/01_raw/real_photos_train
WEIGHTS := data/06_models/$(WEIGHTS_FILE)

# Spark's Python workers must use the project's interpreter.
export PYSPARK_PYTHON := $(BIN)/python
export PYSPARK_DRIVER_PYTHON := $(BIN)/python
export KEDRO_DISABLE_TELEMETRY := true
export DO_NOT_TRACK := 1
# MLflow's own opt-out (its DO_NOT_TRACK check wants "true"); settings.py sets it too.
export MLFLOW_DISABLE_TELEMETRY := true
export TF_CPP_MIN_LOG_LEVEL := 2
export FRUITS_SHARED := $(SHARED)

.PHONY: setup setup-run system-deps browser-deps venv venv-dev lock jars data run run-full test test-fast viz lint format \
	clean-outputs bench bench-pca bench-quant bench-scale eval-real ladder docs s3-up s3-down s3-run package mlflow

# Debian packages that are missing, installed once (as root) without touching anything else:
# --no-upgrade never upgrades a package already there; a non-root user gets the command.
APT_INSTALL_MISSING = if [ -n "$$missing" ]; then \
	  if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-upgrade --no-install-recommends $$missing; \
	  else echo "Install first (Debian): sudo apt-get install$$missing" >&2; exit 1; fi; \
	fi

# Native BLAS/LAPACK (the run needs it): Spark ML's pure-Java fallback gave wrong PCA eigenvalues here.
system-deps:
	@missing=""; \
	/sbin/ldconfig -p | grep -q 'liblapack.so.3' || missing="$$missing libopenblas0-pthread liblapack3"; \
	$(APT_INSTALL_MISSING)

# Chromium + its driver: only the kedro-viz browser test and `make docs`.
browser-deps:
	@missing=""; \
	test -x /usr/bin/chromium || missing="$$missing chromium"; \
	test -x /usr/bin/chromedriver || missing="$$missing chromium-driver"; \
	$(APT_INSTALL_MISSING)

# The tested set: every package at the version in constraints.txt (`make lock` writes it);
# the build backend is pinned in pyproject.toml's [build-system]. `venv` is what a run
# needs (the project and its runtime dependencies); `venv-dev` adds the test, ops and
# kedro-viz extras.
venv: $(VENV)/.installed
venv-dev: $(VENV)/.installed-dev

$(VENV)/.installed: pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c constraints.txt --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e .
	@touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev,viz]"
	@touch $@

# Re-resolve pyproject.toml's pins in a fresh venv and freeze the result, transitive
# dependencies included (run after changing a pin, commit constraints.txt with it).
lock:
	@lock=$$(mktemp -d) && trap 'rm -rf "$$lock"' EXIT && \
	$(PYTHON) -m venv "$$lock" && \
	"$$lock/bin/python" -m pip install --quiet --upgrade pip && \
	"$$lock/bin/python" -m pip install --quiet -e ".[dev,viz]" && \
	{ echo "# The tested set, for pip install -c constraints.txt. Written by make lock from"; \
	  echo "# pyproject.toml (Python $$("$$lock/bin/python" -c 'import platform; print(platform.python_version())'), $$(uname -s) $$(uname -m)): do not edit by hand."; \
	  "$$lock/bin/python" -m pip freeze --all --exclude-editable | grep -v '^setuptools=='; \
	} > constraints.txt.tmp && mv constraints.txt.tmp constraints.txt
	@echo "constraints.txt: $$(grep -c '==' constraints.txt) pinned packages"

# Real data from ../shared, copied (never committed): the sample, the no-fruit photos
# ("unknown" is calibrated on a fixed part of them, backgrounds.py), the real training
# photos (the second source, conf/base/globals.yml) and the weights.
copy_shared = @test -d "$(SHARED)/$(1)" || { echo "missing $(SHARED)/$(1): put the shared folder beside the repo or pass SHARED=/path/to/shared" >&2; exit 1; }; \
	mkdir -p $(dir $@) && cp -rL "$(SHARED)/$(1)" $@.tmp && chmod -R u+w $@.tmp && mv $@.tmp $@

$(SAMPLE_DIR):
	$(call copy_shared,data/fruits360_sample)

$(NOFRUIT_DIR):
	$(call copy_shared,data/backgrounds)

$(REAL_TRAIN_DIR):
	$(call copy_shared,data/real_photos_train/photos)

$(WEIGHTS):
	@test -f "$(SHARED)/weights/$(WEIGHTS_FILE)" || { echo "missing $(SHARED)/weights/$(WEIGHTS_FILE): put the shared folder beside the repo or pass SHARED=/path/to/shared" >&2; exit 1; }
	mkdir -p $(dir $@)
	cp "$(SHARED)/weights/$(WEIGHTS_FILE)" $@

# Spark's s3a connector: hadoop-aws for the Hadoop inside the pyspark wheel + its AWS SDK
# bundle, from Maven Central (cached in ~/.cache/fruits_pipeline/jars), on pyspark's classpath.
jars: $(VENV)/.s3a-jars

$(VENV)/.s3a-jars: $(VENV)/.installed scripts/fetch_s3a_jars.py
	$(BIN)/python scripts/fetch_s3a_jars.py
	@touch $@

data: $(SAMPLE_DIR) $(NOFRUIT_DIR) $(REAL_TRAIN_DIR) $(WEIGHTS)

# What a local run needs; `setup` adds what the tests need (browser, dev extras, s3a jars).
setup-run: system-deps venv data

setup: setup-run browser-deps venv-dev jars

run: setup-run
	$(BIN)/kedro run --env local

# The engine the app ships: the complete release + real_photos_train + Training composites
# (README: Training composites; measured by make ladder). AUGMENT=false: photos only.
AUGMENT ?= true
run-full: setup-run
	$(BIN)/kedro run --env local --params input_path=$(SHARED)/data/fruits360,augmentation.enabled=$(AUGMENT)

test: setup
	$(BIN)/pytest

test-fast: setup
	$(BIN)/pytest -m "not e2e"

# A real S3 server on 127.0.0.1:8333 (SeaweedFS) for the s3_local env; keys generated
# at start into data/.s3/credentials.env (never in git).
s3-up: venv-dev
	$(BIN)/python scripts/local_s3.py up

s3-down: venv-dev
	$(BIN)/python scripts/local_s3.py down

# The main job S3 -> S3 on the local server: upload the sample with fruits-emr (boto3 sent
# to the local endpoint), then the pipeline with the emr settings + local endpoint.
s3-run: setup s3-up
	source data/.s3/credentials.env && \
	AWS_ENDPOINT_URL_S3=http://127.0.0.1:8333 $(BIN)/fruits-emr upload $(SAMPLE_DIR) && \
	$(BIN)/kedro run --env s3_local --params featurization.weights=$(abspath $(WEIGHTS))

# Wheel, allow-listed conf tarball (conf/{base,emr,s3_local}/*.yml, no credentials, .env,
# *.pem) and requirements.lock (hashes) in dist/; fruits-emr deploy uploads them.
package: venv-dev
	$(BIN)/fruits-emr package

viz: setup-run venv-dev
	$(BIN)/kedro viz run --host 127.0.0.1 --port 4141

# The MLflow UI over the local runs (conf/base/mlflow.yml: mlflow.db, artifacts in mlruns/);
# without MLflow 3's background job workers (seven processes, for GenAI jobs) and without
# its dependencies' deprecation notices.
mlflow: venv
	MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false PYTHONWARNINGS=ignore::DeprecationWarning \
	  $(BIN)/mlflow ui --backend-store-uri sqlite:///$(abspath mlflow.db) --host 127.0.0.1 --port 5000

# Throughput of the featurize node vs the bare model and the classic Spark UDF (not a test).
BENCH_N ?= 2000
bench: setup-run
	$(BIN)/python benchmarks/featurize.py --n $(BENCH_N) --rss-check --data $(SHARED)/data/fruits360 --weights $(WEIGHTS)

# The newest bundle on real photos labelled by family (measuring only, never training).
# The newest bundle on the real dev photos (never committed, so the answers' grid goes to
# data/08_reporting, git-ignored like the photos themselves).
eval-real: setup-run
	$(BIN)/python benchmarks/real_photos.py --photos $(SHARED)/data/real_photos_dev/photos \
	  --grid data/08_reporting/real_photos_grid.png

# Which training images buy what on the dev photos: refits the pipeline's nodes on subsets
# of the newest run's features (make run-full first: composites + real_photos_train).
ladder: setup-run
	$(BIN)/python benchmarks/ladder.py --photos $(SHARED)/data/real_photos_dev/photos

bench-pca: setup-run
	$(BIN)/python benchmarks/pca.py --rows 90000 --dim 1280

# tflite_fp16 / tflite_int8 vs float32: img/s, feature cosine, Test accuracy change (full release).
bench-quant: setup-run
	$(BIN)/python benchmarks/quantization.py --data $(SHARED)/data/fruits360 --weights $(WEIGHTS)

# Featurize img/s and driver / worker peak RSS at N = 1k, 5k, 20.7k, and PCA on 90k x 1280.
bench-scale: setup-run
	$(BIN)/python benchmarks/scale.py --data $(SHARED)/data/fruits360 --weights $(WEIGHTS)

# Screenshots of the pipeline graph in kedro-viz and of a preview (headless Chromium) for
# the README; the preview shows the newest complete run's outputs (`make run` first).
docs: setup-run browser-deps venv-dev
	$(BIN)/python scripts/viz_screenshot.py docs/img/kedro-viz.png \
	  --preview pca_scatter=docs/img/kedro-viz-preview.png

lint: venv-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/shellcheck --severity=style deploy/*.sh
	$(BIN)/hadolint --failure-threshold warning deploy/serverless/Dockerfile

format: venv-dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Everything a run writes; the inputs stay: data/01_raw and the weights (*.h5) in 06_models.
clean-outputs:
	rm -rf data/02_intermediate/* data/03_primary/* data/04_feature/* data/05_model_input/* \
	  data/07_model_output/* data/08_reporting/*
	find data/06_models -mindepth 1 -maxdepth 1 ! -name '*.h5' ! -name .gitkeep -exec rm -rf {} +
	rm -rf mlflow.db mlruns
