#!/bin/sh
# demo-live.sh - `make demo-live`: the demo against a broker over HTTPS instead of the paper broker.
#
# Starts `tickpipe broker-sim` (Alpaca's trading API v2 over TLS, filling
# against the same capture) on a free loopback port with a self-signed
# certificate made here, runs config/demo.json with execution.broker "rest"
# pointed at it (certificate verification on, keys from the environment),
# replaying the capture at 4x its pace, then prints the simulator's counters.
# Everything stays on 127.0.0.1; files go to build/demo-live/.
set -eu
BIN=${TP_BUILD:-build}/tickpipe
OUT=build/demo-live
CAP=build/demo/coinbase.cap
mkdir -p "$OUT"
rm -f "$OUT"/journal.tpj "$OUT"/journal.tpj.wall "$OUT"/port "$OUT"/stats.json

openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
	-days 1 -keyout "$OUT/key.pem" -out "$OUT/cert.pem" 2>/dev/null
chmod 600 "$OUT/key.pem"
# Demo keys, made up per run; the adapter sends them as headers, never logs them.
APCA_API_KEY_ID=demo$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')
APCA_API_SECRET_KEY=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
export APCA_API_KEY_ID APCA_API_SECRET_KEY

"$BIN" broker-sim --listen 127.0.0.1:0 --port-file "$OUT/port" --capture "$CAP" --speed 4 \
	--tls "$OUT/cert.pem" "$OUT/key.pem" --stats-file "$OUT/stats.json" --quiet &
SIM=$!
trap 'kill $SIM 2>/dev/null || true' EXIT INT TERM
i=0
while [ ! -s "$OUT/port" ]; do
	i=$((i + 1))
	[ $i -lt 100 ] || { echo "demo-live: broker-sim did not start" >&2; exit 1; }
	sleep 0.05
done
PORT=$(cat "$OUT/port")

# The demo config with the REST broker and this run's paths.
sed -e 's|"execution": { "broker": "paper",|"execution": { "broker": "rest", "rest": { "base_url": "https://127.0.0.1:'"$PORT"'", "ca_file": "'"$OUT"'/cert.pem" },|' \
    -e 's|"journal": "build/demo/journal.tpj"|"journal": "'"$OUT"'/journal.tpj"|' \
    -e 's|"report": "build/demo/report.json"|"report": "'"$OUT"'/report.json"|' \
    -e 's|"name": "demo", "hugepages"|"name": "demo-live", "hugepages"|' \
    -e 's|"listen": "127.0.0.1:9464"|"listen": "127.0.0.1:9465"|' \
    config/demo.json > "$OUT/demo-live.json"
grep -q '"broker": "rest"' "$OUT/demo-live.json" || { echo "demo-live: could not derive the config" >&2; exit 1; }

"$BIN" run "$OUT/demo-live.json" --speed 4 --replace-stale
kill $SIM
wait $SIM 2>/dev/null || true
trap - EXIT INT TERM
echo "broker-sim counters ($OUT/stats.json):"
cat "$OUT/stats.json"
echo
