#!/usr/bin/env bash
# ctest deploy_systemd: deploy/wavebot.service
#  - `systemd-analyze verify` accepts it without a single warning (unknown keys and bad values are only
#    warnings to systemd, so any output fails), with ExecStart pointed at the built binary;
#  - `systemd-analyze security --offline` rates its exposure 2.1 or lower ("OK": what the agent sandbox needs, namespaces and mounts, costs 0.8 over the 1.3 of a unit without it);
#  - the hardening a review asks for is there, and the Environment= it gives wavebot works: the
#    unit's own ExecStartPre (`wavebot doctor --local`) passes with %S and %d laid out as systemd would.
# Usage: check_systemd.sh REPO_ROOT WAVEBOT_BINARY
set -uo pipefail
ROOT=$1
BIN=$2
UNIT=$ROOT/deploy/wavebot.service
passed=0
failed=0
ok() { echo "ok   $1"; passed=$((passed + 1)); }
fail() { echo "FAIL $1"; failed=$((failed + 1)); }
if ! command -v systemd-analyze >/dev/null; then
  echo "systemd-analyze is missing: scripts/setup.sh installs systemd" >&2
  exit 1
fi
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
sed "s#/usr/local/bin/wavebot#$BIN#g" "$UNIT" >"$TMP/wavebot.service"

out=$(cd "$TMP" && systemd-analyze verify --man=no "$TMP/wavebot.service" 2>&1)
rc=$?
if [[ $rc -eq 0 && -z "$out" ]]; then ok "systemd-analyze verify: no findings"; else fail "systemd-analyze verify (rc $rc): $out"; fi

# The verifier must really look: a misspelt key is reported.
sed 's/^NoNewPrivileges=yes/NoNewPrivilege=yes/' "$TMP/wavebot.service" >"$TMP/broken.service"
out=$(cd "$TMP" && systemd-analyze verify --man=no "$TMP/broken.service" 2>&1)
if [[ "$out" == *"Unknown key"* ]]; then ok "systemd-analyze verify reports a misspelt key"; else fail "a misspelt key went unreported: $out"; fi

sec=$(systemd-analyze security --offline=true "$TMP/wavebot.service" 2>&1)
level=$(sed -n 's/.*Overall exposure level for wavebot.service: \([0-9.]*\).*/\1/p' <<<"$sec")
if [[ -n "$level" ]] && awk -v l="$level" 'BEGIN { exit !(l <= 2.1) }'; then
  ok "systemd-analyze security: exposure $level <= 2.1"
else
  fail "systemd-analyze security: exposure '${level}' (want <= 2.1)"$'\n'"$(grep -E '^✗' <<<"$sec")"
fi

for want in DynamicUser=yes StateDirectory=wavebot NoNewPrivileges=yes ProtectSystem=strict ProtectHome=yes \
  PrivateTmp=yes CapabilityBoundingSet= UMask=0077 'Environment=WAVEBOT_DATA_DIR=%S/wavebot' \
  'ExecStart=/usr/local/bin/wavebot serve' 'Restart=on-failure'; do
  if grep -qxF "$want" "$UNIT"; then ok "has $want"; else fail "deploy/wavebot.service lacks the line $want"; fi
done
if grep -qE '^Environment=WAVEBOT_[A-Z_]*(SECRET|TOKEN)=' "$UNIT"; then
  fail "a secret is inline in Environment= (use LoadCredential=)"
else
  ok "no secret inline in Environment="
fi

# Lay out what systemd gives the service and run its ExecStartPre with the unit's Environment=.
mkdir -p "$TMP/state" "$TMP/creds"
openssl genrsa -out "$TMP/creds/private-key.pem" 2048 2>/dev/null
chmod 600 "$TMP/creds/private-key.pem"
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$TMP/creds/webhook-secret"
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$TMP/creds/read-token"
port=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
envs=(env -i PATH=/usr/bin:/bin)
while IFS= read -r line; do
  v=${line#Environment=}
  v=${v//%S/$TMP/state}
  v=${v//%d/$TMP/creds}
  envs+=("$v")
done < <(grep '^Environment=' "$UNIT")
envs+=("WAVEBOT_LISTEN=127.0.0.1:$port" WAVEBOT_APP_ID=12345)
pre=$(sed -n 's#^ExecStartPre=/usr/local/bin/wavebot ##p' "$UNIT")
out=$(cd "$TMP/state" && "${envs[@]}" "$BIN" $pre 2>&1)
rc=$?
if [[ $rc -eq 0 && "$out" == *"PASS data directory $TMP/state/wavebot"* && "$out" == *"PASS webhook secret is set"* ]]; then
  ok "ExecStartPre ($pre) passes with the unit's environment"
else
  fail "ExecStartPre ($pre) with the unit's environment (rc $rc):"$'\n'"$out"
fi
echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
