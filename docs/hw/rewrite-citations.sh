#!/usr/bin/env bash
# Rewrite citations of the research notes outside the repository
# (shared/hw/*.md, hw/qemu-virt.md, smmu.md C.6.2, DESIGN.md, ...) into
# citations of docs/hw/*.md and docs/design.md, using citation-map.tsv.
#
#   docs/hw/rewrite-citations.sh            rewrite, then check
#   docs/hw/rewrite-citations.sh --check    only check
#
# Scope: src tools tests benches docs boards README.md fuzz (tracked files),
# excluding docs/hw itself.  Exit status: 0 when no outside reference
# remains and every rewritten "docs/hw/<page>.md §N" / "docs/design.md §N"
# names a section that exists; 1 otherwise (the offending lines are printed).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"
map="$here/citation-map.tsv"
mode=${1:-rewrite}

files() {
    git ls-files -z -- src tools tests benches docs boards README.md fuzz \
        ':!:docs/hw/**' 2>/dev/null |
        xargs -0 -r grep -lIZ -E '\.md' -- 2>/dev/null || true
}

if [[ $mode != --check ]]; then
    prog=$(mktemp)
    trap 'rm -f "$prog"' EXIT
    us=$'\x1f'
    n=0
    while IFS=$'\t' read -r old new; do
        [[ -z $old || $old == \#* ]] && continue
        [[ -z ${new+x} ]] && { echo "citation-map.tsv: row without a tab: $old" >&2; exit 2; }
        n=$((n + 1))
        # Each row loops until it no longer matches (lists like "C.1, C.2, C.3").
        printf ':r%d\ns%s%s%s%s%sg\ntr%d\n' "$n" "$us" "$old" "$us" "$new" "$us" "$n" >>"$prog"
    done <"$map"
    changed=0
    while IFS= read -r -d '' f; do
        before=$(cksum <"$f")
        LC_ALL=C.UTF-8 sed -E -z -i -f "$prog" "$f"
        [[ $(cksum <"$f") != "$before" ]] && changed=$((changed + 1))
    done < <(files)
    echo "rewrite-citations: $n map rows applied, $changed files changed"
fi

status=0

# 1. Anything still pointing outside the repository.
outside='(?<![\w./-])(?:/work/|\.\./)?(?:shared/)?(?:hw/)?(?:smmu|sun50i-dart|sun50i-manual|smmuv2-architecture|dart-asahi|qemu-virt|boards)\.md|(?<![\w./-])(?:/work/|\.\./)?(?:shared/)?DESIGN\.md|(?<![\w./-])(?:shared/)?style/[a-z-]+\.md|/work/shared'
left=$(files | xargs -0 -r grep -nP "$outside" -- || true)
if [[ -n $left ]]; then
    echo "rewrite-citations: outside references remain:" >&2
    echo "$left" >&2
    status=1
fi

# 2. Every cited section exists as a numbered heading in its page.
dangling=$(files | xargs -0 -r perl -0777 -ne '
    our %heads;
    sub heads { my $p = shift; return $heads{$p} if $heads{$p};
        my %h; local $/ = "\n"; if (open my $fh, "<", $p) { while (<$fh>) { $h{$1} = 1 if /^#+\s+([0-9]+(?:\.[0-9]+)*)\.?\s/ } }
        return $heads{$p} = \%h; }
    while (/(docs\/(?:hw\/[a-z0-9-]+|design)\.md)`?\s*(?:(?:\/\/[\/!]?|#)\s*)?((?:§[0-9]+(?:\.[0-9]+)*(?:, | and |\/| \/ |–|-)?)+)/g) {
        my ($page, $list) = ($1, $2);
        for my $s ($list =~ /§([0-9]+(?:\.[0-9]+)*)/g) {
            print "$ARGV: $page §$s\n" unless heads($page)->{$s};
        }
    }' | sort -u || true)
if [[ -n $dangling ]]; then
    echo "rewrite-citations: cited sections that do not exist:" >&2
    echo "$dangling" >&2
    status=1
fi

[[ $status == 0 ]] && echo "rewrite-citations: no outside references; every cited section exists"
exit $status
