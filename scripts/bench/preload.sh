# Shared by scripts/bench-http.sh and bench-scale.sh (sourced from the repository's root, with
# WORK, THREADS and MESSAGES set): the preload of the benchmark's threads through /v1/import.

# Preloads THREADS x MESSAGES into the instance at $1 for token $2 through /v1/import; writes
# the new threads' ids to $3.
preload() {
    local base=$1 token=$2 ids=$3 chunk
    # Files of ~8 MB at most (limits.import_bytes is 16 MiB): a message is ~1.1 KB of NDJSON.
    chunk=$((8000000 / (MESSAGES * 1100 + 200)))
    [ "$chunk" -ge 1 ] || chunk=1
    python3 scripts/bench/preload.py import "$WORK/ndjson" "$THREADS" "$MESSAGES" "$chunk"
    : >"$ids"
    for f in "$WORK"/ndjson/*.ndjson; do
        curl -sSf -X POST "$base/v1/import" -H "Authorization: Bearer $token" \
            -H 'content-type: application/x-ndjson' --data-binary "@$f" |
            python3 -c 'import json, sys
for r in json.load(sys.stdin)["results"]:
    if r["result"] != "imported":
        sys.exit(f"bench: import: {r}")
    print(r["id"])' >>"$ids"
    done
    rm -rf "$WORK/ndjson"
    [ "$(wc -l <"$ids")" -eq "$THREADS" ] || { echo "bench: the preload imported $(wc -l <"$ids") threads, not $THREADS" >&2; exit 1; }
}
