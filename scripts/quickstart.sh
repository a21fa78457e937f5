#!/usr/bin/env bash
# Quickstart: the whole password-recovery path on one machine, with the embedded
# defaults. It builds haven, starts a local Backup Key Vault on 127.0.0.1, backs up
# generated chat data with a vault password, deletes the key file (a lost phone),
# recovers the key with the password, restores into a new folder and checks that the
# restore is identical: files byte for byte, the database row for row. Exits
# non-zero on any failure; the vault is stopped on exit.
#
# Usage: scripts/quickstart.sh            (KEEP=1 keeps the temporary folder)
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*"; }

step "Build haven and haven-chatgen (release)"
cargo build --release --locked -p haven-cli -p haven-chatgen
bin="${CARGO_TARGET_DIR:-target}/release"
haven="$bin/haven"
chatgen="$bin/haven-chatgen"

work="$(mktemp -d -t haven-quickstart.XXXXXX)"
vault_pid=""
cleanup() {
    if [[ -n "$vault_pid" ]]; then
        kill "$vault_pid" 2>/dev/null || true
        wait "$vault_pid" 2>/dev/null || true
    fi
    if [[ "${KEEP:-0}" == 1 ]]; then
        echo "kept $work"
    else
        rm -rf "$work"
    fi
}
trap cleanup EXIT

# The run starts from a clean environment for haven's own settings.
unset HAVEN_REPO HAVEN_KEY HAVEN_KEY_FILE HAVEN_PASSWORD_FILE HAVEN_VAULT_TOKEN

step "Initialise a vault with a key-file KEK in $work/vault"
mkdir -p "$work/vault"
init_out="$("$haven" vault init --vault-id quickstart-vault \
    --data "$work/vault/data" --kek-file "$work/vault/kek.key")"
echo "$init_out"
fingerprint="$(sed -n 's/^fingerprint //p' <<<"$init_out")"
[[ ${#fingerprint} == 64 ]] || { echo "vault init printed no fingerprint" >&2; exit 1; }
"$haven" vault tenant-key --tenant quickstart \
    --key-out "$work/vault/tenant.key" --tenants "$work/vault/tenants.json"

step "Start the vault on 127.0.0.1 with a free port"
"$haven" vault serve --listen 127.0.0.1:0 --data "$work/vault/data" \
    --kek-file "$work/vault/kek.key" --tenants "$work/vault/tenants.json" \
    >"$work/vault/stdout" 2>"$work/vault/log" &
vault_pid=$!
url=""
for _ in $(seq 1 100); do
    url="$(sed -n 's/^listening on //p' "$work/vault/stdout")"
    [[ -n "$url" ]] && break
    kill -0 "$vault_pid" 2>/dev/null || { cat "$work/vault/log" >&2; exit 1; }
    sleep 0.1
done
[[ -n "$url" ]] || { echo "the vault did not start within 10 s" >&2; cat "$work/vault/log" >&2; exit 1; }
echo "vault listening on $url, fingerprint $fingerprint"

step "Mint a token for account alice"
HAVEN_VAULT_TOKEN="$("$haven" vault token --tenant quickstart --account alice \
    --vault-id quickstart-vault --tenant-key "$work/vault/tenant.key")"
export HAVEN_VAULT_TOKEN
echo "token minted (${#HAVEN_VAULT_TOKEN} characters, valid for 1 hour)"

step "Generate 10 MB of sample chat data in $work/phone"
"$chatgen" generate --out "$work/phone" --size 10MB
db="$work/phone/databases/msgstore.db"
[[ -f "$db" ]] || { echo "no message database at $db" >&2; exit 1; }

step "Create the repository with a 64-digit key and a vault password"
password_file="$work/password"
(umask 077 && printf '%s' "quickstart password $(date +%s%N)" >"$password_file")
HAVEN_PASSWORD_FILE="$password_file" "$haven" init --repo "$work/repo" \
    --key-file "$work/phone.key" --vault "$url" --vault-fingerprint "$fingerprint" \
    --account alice

step "Back up the chat data"
# The row state that lets later backups store only changed rows lives on the phone.
"$haven" backup --repo "$work/repo" --key-file "$work/phone.key" \
    --state-dir "$work/phone-state" "$work/phone"

step "Lose the phone: delete the local key file and row state"
rm "$work/phone.key"
rm -rf "$work/phone-state"

step "Recover the key on a new phone with the password"
"$haven" key recover --repo "$work/repo" --key-file "$work/new-phone.key" \
    --password-file "$password_file"

step "Restore into a new folder"
"$haven" restore --repo "$work/repo" --key-file "$work/new-phone.key" latest \
    --target "$work/restored"

step "Verify: identical files and an identical, intact SQLite database"
# The message database is in WAL mode: haven stores a consistent copy with the WAL
# applied, so the restored database is one file whose bytes differ from the live
# pair (msgstore.db plus -wal), while every row is the same. Hence the database is
# compared by its SQL dump and every other file byte for byte.
diff -r -x 'msgstore.db*' "$work/phone" "$work/restored/phone"
restored_db="$work/restored/phone/databases/msgstore.db"
diff <(sqlite3 "$db" .dump) <(sqlite3 "$restored_db" .dump) >/dev/null \
    || { echo "the restored database differs from the original" >&2; exit 1; }
integrity="$(sqlite3 "$restored_db" 'PRAGMA integrity_check;')"
[[ "$integrity" == ok ]] || { echo "integrity_check: $integrity" >&2; exit 1; }
echo "diff -r (media and other files): no differences"
echo "SQL dump of the database: identical; PRAGMA integrity_check: ok"

step "Stop the vault"
kill "$vault_pid"
wait "$vault_pid" || true
vault_pid=""

echo
echo OK
