#!/usr/bin/env bash
# module_cache.yml with -vvv, then what its output must show: the binary was
# copied three times in all (the first call, after the tampering, and the
# become user's first call) and every other call ran from the cache; nothing
# of the no_log task's arguments.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=$IT_WORKDIR/module_cache.out
ansible-playbook -vvv -i "$here/inventory.ini" "$here/module_cache.yml" >"$out" 2>&1 || { tail -60 "$out"; exit 1; }
copies=$(grep -c 'cinder.multiattach: copying cluster_conf' "$out" || true)
ran=$(grep -c 'cinder.multiattach: ran cluster_conf from the module cache' "$out" || true)
echo "module cache: $copies copies, $ran runs from the cache"
[ "$copies" = 3 ] || { grep 'cinder.multiattach:' "$out"; echo "expected 3 copies (first call, after tampering, become user), saw $copies" >&2; exit 1; }
[ "$ran" -ge 9 ] || { echo "expected at least 9 runs from the cache, saw $ran" >&2; exit 1; }
if grep -q nolog4ab9z "$out"; then
  grep -n nolog4ab9z "$out" | head -5
  echo "the no_log task's arguments appear in the output" >&2
  exit 1
fi
grep -q "the output has been hidden due to the fact that 'no_log: true'" "$out" ||
  { echo "the no_log task's result was not censored" >&2; exit 1; }
