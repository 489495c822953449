#!/bin/sh
# Fills fuzz/corpus/<target>/ with seed inputs (the corpus dirs are git-ignored).
# Copies from the shared conformance corpus at run time; nothing of it is committed here.
# Usage: fuzz/seed.sh [path/to/shared/conformance]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
conf=${1:-${NARTHEX_CONFORMANCE_DIR:-$here/../../shared/conformance}}
corpus=$here/corpus
mkdir -p "$corpus/text" "$corpus/openmetrics" "$corpus/protobuf" "$corpus/matcher" "$corpus/go_float"

if [ -d "$conf" ]; then
    # Text-like inputs go to both text targets: each parser learns from the other's cases.
    find "$conf/exposition" -type f ! -path '*common-expfmt/protobuf*' | while read -r f; do
        name=$(printf '%s' "${f#"$conf"/}" | tr '/' '_')
        cp "$f" "$corpus/text/$name"
        cp "$f" "$corpus/openmetrics/$name"
    done
    for f in "$conf"/openmetrics/*/metrics; do
        name=om_$(basename "$(dirname "$f")")
        cp "$f" "$corpus/openmetrics/$name"
        cp "$f" "$corpus/text/$name"
    done
    for f in "$conf"/exposition/common-expfmt/protobuf*; do
        cp "$f" "$corpus/protobuf/$(basename "$f")"
    done
else
    echo "conformance corpus not found at $conf; seeding the text targets with nothing" >&2
fi

# Replayed regressions are seeds too.
for t in text openmetrics protobuf matcher go_float; do
    if [ -d "$here/regressions/$t" ]; then
        find "$here/regressions/$t" -type f -exec cp {} "$corpus/$t/" \;
    fi
done

# Matcher seeds: `pattern 0xFF haystack`.
i=0
for p in 'foo' 'foo|bar' '.*' '.+' 'foo.*' '.*foo' '.*foo.*' '(?i)abc' 'a[0-9]+b' \
    '\d\w\s' '\Qa.b\E' 'x\b' '[^a]*' '(a|b)*c{2,3}' '^a$' 'é|ü' '(?-s:.)' 'a)|(b'; do
    printf '%s\377%s' "$p" "foobar" > "$corpus/matcher/seed$i"
    i=$((i + 1))
done

# Float seeds: eight bytes of bits, then text.
i=0
for s in '1' '-0' '1e308' '0x1p-1074' 'NaN' '+Inf' '1_000.5' '4.9e-324' '123456789012345678901234567890'; do
    printf '\000\000\000\000\000\000\360\077%s' "$s" > "$corpus/go_float/seed$i"
    i=$((i + 1))
done
