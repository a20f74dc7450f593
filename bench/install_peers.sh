#!/usr/bin/env bash
# Install the peers the benchmark compares against, from the registries, without touching the
# project's virtualenv: sqitch from Debian, dbmate from npm into bench/.peers, yoyo into its own
# venv under bench/.peers. Idempotent: a peer already installed is left as it is.
set -euo pipefail
cd "$(dirname "$0")"
PEERS=.peers
DBMATE_VERSION=2.36.0
YOYO_VERSION=9.0.0
mkdir -p "$PEERS"

need=()
command -v sqitch >/dev/null || need+=(sqitch)
perl -MDBD::Pg -e1 2>/dev/null || need+=(libdbd-pg-perl)
command -v psql >/dev/null || need+=(postgresql-client)
command -v npm >/dev/null || need+=(npm)
if [ ${#need[@]} -gt 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# Everyone is measured on the machine's PostgreSQL server; start it if it is installed but down.
SERVER=${BENCH_SERVER:-postgresql://postgres@127.0.0.1:5432}
if ! psql "$SERVER/postgres" -qAtc "SELECT 1" >/dev/null 2>&1 && command -v pg_ctlcluster >/dev/null; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
fi
psql "$SERVER/postgres" -qAtc "SELECT 1" >/dev/null || { echo "no PostgreSQL at $SERVER" >&2; exit 1; }

if [ ! -x "$PEERS/node_modules/.bin/dbmate" ]; then
    npm install --silent --no-audit --no-fund --prefix "$PEERS" "dbmate@$DBMATE_VERSION"
fi

if [ ! -x "$PEERS/yoyo/bin/yoyo" ]; then
    python3 -m venv "$PEERS/yoyo"
    "$PEERS/yoyo/bin/python" -m pip install --quiet "yoyo-migrations==$YOYO_VERSION" "psycopg[binary]==3.3.9"
fi

mkdir -p .work && echo "Peers: $(sqitch --version | head -n1); dbmate $("$PEERS/node_modules/.bin/dbmate" --version | awk '{print $NF}'); yoyo $("$PEERS/yoyo/bin/python" -c 'import importlib.metadata as m; print(m.version("yoyo-migrations"))'); $(psql --version)." | tee .work/versions.txt
