#!/bin/sh
# Seeds the fuzz corpora (fuzz/corpus/<target>/, not versioned) with the captured webhook
# bodies, so that fuzzing starts from real envelopes instead of from nothing.
#
# Usage: fuzz/seed-corpus.sh [fixtures-dir]
# The fixtures directory is the argument, else $NOTIFY_FIXTURES, else the first `shared/fixtures`
# found in an ancestor of this script's directory.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
fixtures=${1:-${NOTIFY_FIXTURES:-}}
if [ -z "$fixtures" ]; then
    dir=$here
    while [ "$dir" != / ]; do
        if [ -d "$dir/shared/fixtures" ]; then
            fixtures=$dir/shared/fixtures
            break
        fi
        dir=$(dirname "$dir")
    done
fi
if [ -z "$fixtures" ] || [ ! -d "$fixtures" ]; then
    echo "no fixtures directory: pass it as the first argument or set NOTIFY_FIXTURES" >&2
    exit 1
fi

for target in parse_envelope parse_translate; do
    mkdir -p "$here/corpus/$target"
    # Flattened names keep same-named files of different registry versions apart.
    find "$fixtures" -type f -name '*.json' | while read -r file; do
        rel=${file#"$fixtures"/}
        cp "$file" "$here/corpus/$target/$(printf '%s' "$rel" | tr / _)"
    done
    echo "$target: $(find "$here/corpus/$target" -type f | wc -l) files in corpus/$target"
done

# http_ingest reads three selector bytes before the body: v1 content type, the right token,
# /events.
mkdir -p "$here/corpus/http_ingest"
find "$fixtures" -type f -name '*.json' | while read -r file; do
    rel=${file#"$fixtures"/}
    { printf '\000\000\000'; cat "$file"; } > "$here/corpus/http_ingest/$(printf '%s' "$rel" | tr / _)"
done
echo "http_ingest: $(find "$here/corpus/http_ingest" -type f | wc -l) files in corpus/http_ingest"
