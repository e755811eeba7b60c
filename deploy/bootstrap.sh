#!/usr/bin/env bash
# EMR bootstrap action: runs on every node (as the hadoop user, before YARN and Spark start).
#   bootstrap.sh <s3 deploy prefix of one deployment> <wheel file name> [venv path]
# Installs native BLAS/LAPACK and Python 3.11, copies the deployment's files (wheel, conf
# tarball, requirements.lock, entrypoint.py, bootstrap.sh, SHA256SUMS) next to the venv, checks them
# against SHA256SUMS, installs the locked dependencies with --require-hashes and then the
# wheel without resolving anything (from PyPI: the nodes need internet access, e.g. a public
# subnet or a NAT gateway). `fruits-emr launch` passes the deployment's prefix
# (deploy/<id>/, never overwritten) and the venv path from deploy/emr.yml.
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
# No pipe into grep -q: with pipefail, ldconfig could die of SIGPIPE when grep exits first.
libraries="$(ldconfig -p)"
if [[ "$libraries" != *"liblapack.so.3"* ]]; then
  log "liblapack.so.3 missing after install"
  exit 1
fi

FILES=("$WHEEL" conf-fruits_pipeline.tar.gz requirements.lock entrypoint.py bootstrap.sh SHA256SUMS)
log "copying ${FILES[*]} from $DEPLOY_PREFIX to $INSTALL_DIR"
sudo mkdir -p "$INSTALL_DIR"
sudo chown "$(id -u):$(id -g)" "$INSTALL_DIR"
for name in "${FILES[@]}"; do
  aws s3 cp --only-show-errors "$DEPLOY_PREFIX/$name" "$INSTALL_DIR/$name"
done
log "checking the files against SHA256SUMS"
(cd "$INSTALL_DIR" && sha256sum --check --strict --quiet SHA256SUMS)

log "creating $VENV, installing requirements.lock (hashes required), then $WHEEL"
python3.11 -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --no-cache-dir --require-hashes --no-deps \
  -r "$INSTALL_DIR/requirements.lock"
"$VENV/bin/python" -m pip install -q --no-cache-dir --no-deps --no-index "$INSTALL_DIR/$WHEEL"
"$VENV/bin/python" -m pip check
"$VENV/bin/python" -c 'import fruits_pipeline, pyspark; print("fruits_pipeline", fruits_pipeline.__version__, "pyspark", pyspark.__version__)'
log "done"
