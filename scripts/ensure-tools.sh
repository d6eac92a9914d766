#!/usr/bin/env bash
# Makes sure the programs the tests call are installed: pdftoppm (poppler-utils) rasterises
# the printable cards so their QR codes can be decoded; nats-server (with JetStream) is
# started by each event stream test on a port and a store of its own. Installs from
# Debian's packages when one is missing, so nothing depends on what someone installed by
# hand.
set -euo pipefail

missing=()
command -v pdftoppm >/dev/null 2>&1 || missing+=(poppler-utils)
# Debian installs it in /usr/sbin, which is not on every user's PATH.
command -v nats-server >/dev/null 2>&1 || [ -x /usr/sbin/nats-server ] || missing+=(nats-server)

if [ ${#missing[@]} -gt 0 ]; then
  echo "installing ${missing[*]} (needed by the tests)" >&2
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q "${missing[@]}" >/dev/null \
    || { DEBIAN_FRONTEND=noninteractive $sudo apt-get update -q >/dev/null \
         && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q "${missing[@]}" >/dev/null; }
fi
