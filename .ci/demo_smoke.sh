#!/usr/bin/env bash
# The README's demo command as a new user types it, then used: the printed claim answers 201
# and then 200 with the same coupon, the printed logins open the site and the admin, the
# campaign the demo scheduled is started by beat on its own, and Ctrl-C stops the site, the
# worker, beat and the database.
set -euo pipefail
set -m  # the demo runs in its own process group, which gets Ctrl-C (SIGINT) like a terminal's
cd "$(dirname "$0")/.."
port=8765
log=$(mktemp)
PORT=$port DEMO_CUSTOMERS=300 DEMO_OPENING_MINUTES=1 make demo >"$log" 2>&1 &
demo=$!
stop_demo() { kill -INT -- "-$demo" 2>/dev/null || true; }
trap 'stop_demo; cat "$log"' ERR

for _ in $(seq 600); do
  grep -q "^OpsCRM demo:" "$log" && break
  kill -0 "$demo" 2>/dev/null || { echo "make demo stopped:"; cat "$log"; exit 1; }
  sleep 1
done
grep -q "^OpsCRM demo:" "$log" || { echo "make demo did not serve within 600 s"; exit 1; }
cat "$log"

claim=$(grep "^curl " "$log")
first=$(eval "$claim")
second=$(eval "$claim")
echo "$first"
echo "$second"
[ "$(tail -1 <<<"$first")" = "HTTP 201" ] || { echo "FAIL: the printed claim did not answer 201"; exit 1; }
[ "$(tail -1 <<<"$second")" = "HTTP 200" ] || { echo "FAIL: the same claim again did not answer 200"; exit 1; }
code() { head -1 <<<"$1" | python3 -c 'import json, sys; print(json.load(sys.stdin)["code"])'; }
[ "$(code "$first")" = "$(code "$second")" ] || { echo "FAIL: the repeated claim gave another coupon"; exit 1; }

.venv/bin/python .ci/demo_login.py "http://127.0.0.1:$port" "$log"

# The demo scheduled a campaign to open a minute after it started; beat must start it.
opening=$(grep -o "Campaign flash-[0-9-]* is scheduled" "$log" | awk '{print $2}')
for _ in $(seq 120); do
  status=$(.venv/bin/python .ci/demo_login.py "http://127.0.0.1:$port" "$log" --campaign-status "$opening")
  [ "$status" = "running" ] && break
  sleep 2
done
echo "campaign $opening: $status"
[ "$status" = "running" ] || { echo "FAIL: $opening was not started by beat"; exit 1; }

# SPEC §9: no customer's phone or e-mail reaches a log, even after searches by them.
personal=$(mktemp)
DEBUG=true .venv/bin/python manage.py shell -v 0 -c "
from crm.models import Customer
for phone, email in Customer.objects.exclude(phone='').exclude(email='').values_list('phone', 'email'):
    print(phone); print(email)" >"$personal"
[ "$(wc -l <"$personal")" -gt 100 ] || { echo "FAIL: the demo's customers have no contacts"; exit 1; }
.venv/bin/python .ci/demo_login.py "http://127.0.0.1:$port" "$log" --search $(head -2 "$personal")

stop_demo
wait "$demo" || true
if grep -F -f "$personal" var/log/*.log; then
  echo "FAIL: a customer's phone or e-mail is in a log (above)"; exit 1
fi
tail -3 "$log"
grep -q "^Demo stopped." "$log" || { echo "FAIL: the demo did not stop cleanly"; exit 1; }
if pgrep -f "$(pwd)/.venv/bin/python -m (gunicorn|celery)" >/dev/null; then
  echo "FAIL: a demo process is still running"; exit 1
fi
if [ -e var/postgres/postmaster.pid ]; then
  echo "FAIL: the demo's PostgreSQL is still running"; exit 1
fi
echo "demo smoke passed"
