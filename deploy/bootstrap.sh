#!/usr/bin/env bash
# EMR bootstrap action: runs on every node (as the hadoop user, before YARN and Spark start).
#   bootstrap.sh <s3 deploy prefix> <wheel file name> [venv path]
# Installs native BLAS/LAPACK and Python 3.11, creates the venv, copies the wheel, the conf
# tarball and entrypoint.py next to it and installs the wheel with its pinned dependencies
# (from PyPI: the nodes need internet access, e.g. a public subnet or a NAT gateway).
# `fruits-emr launch` passes the venv path from deploy/emr.yml; the default matches it.
# Its output lands in <log uri>/<cluster id>/node/<instance id>/bootstrap-actions/.
set -euo pipefail

if [ $# -lt 2 ]; then
  echo "usage: $0 <s3 deploy prefix> <wheel file name> [venv path]" >&2
  exit 2
fi
DEPLOY_PREFIX="${1%/}"
WHEEL="$2"
VENV="${3:-/opt/fruits_pipeline/venv}"
INSTALL_DIR="$(dirname "$VENV")"
export PATH="$PATH:/usr/sbin:/sbin"  # ldconfig

log() { echo "[fruits-bootstrap $(date -u +%H:%M:%S)] $*"; }

# dnf on Amazon Linux 2023, yum on older images.
PKG=dnf
command -v dnf >/dev/null 2>&1 || PKG=yum
# Native BLAS/LAPACK: Spark ML's pure-Java fallback gave WRONG PCA eigenvalues (see
# README, "Why a native LAPACK"); Spark loads liblapack.so.3 when it is installed.
log "installing openblas lapack python3.11 with $PKG"
sudo "$PKG" install -y -q openblas lapack python3.11
ldconfig -p | grep -q 'liblapack\.so\.3' || { log "liblapack.so.3 missing after install"; exit 1; }

log "copying $WHEEL, conf-fruits_pipeline.tar.gz, entrypoint.py from $DEPLOY_PREFIX to $INSTALL_DIR"
sudo mkdir -p "$INSTALL_DIR"
sudo chown "$(id -u):$(id -g)" "$INSTALL_DIR"
for name in "$WHEEL" conf-fruits_pipeline.tar.gz entrypoint.py; do
  aws s3 cp --only-show-errors "$DEPLOY_PREFIX/$name" "$INSTALL_DIR/$name"
done

log "creating $VENV and installing $WHEEL"
python3.11 -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --no-cache-dir --upgrade pip
"$VENV/bin/python" -m pip install -q --no-cache-dir "$INSTALL_DIR/$WHEEL"
"$VENV/bin/python" -c 'import fruits_pipeline, pyspark; print("fruits_pipeline", fruits_pipeline.__version__, "pyspark", pyspark.__version__)'
log "done"
