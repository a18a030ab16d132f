#!/usr/bin/env bash
# The demo path of the README on a throwaway SQLite file: migrate, generate a small demo,
# create the printed logins, serve, then log in to the home page and the admin.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
export DATABASE_URL="sqlite:///$work/demo.sqlite3"
unset CELERY_BROKER_URL
.venv/bin/python manage.py migrate --no-input -v0
.venv/bin/python manage.py generate_demo_data --customers 300 --seed 7
.venv/bin/python manage.py create_demo_users | tee "$work/logins.txt"
port=8765
.venv/bin/python manage.py runserver "127.0.0.1:$port" --noreload >"$work/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 60); do curl -fs "http://127.0.0.1:$port/login/" >/dev/null && break; sleep 1; done
.venv/bin/python .ci/demo_login.py "http://127.0.0.1:$port" "$work/logins.txt"
echo "demo smoke passed"
