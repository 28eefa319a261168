# shellcheck shell=sh
# Apply, first part: the lock, the run directory, the stdin bundle and the values read from it.
take_lock
# A run that was killed (not just cut off: that one finishes) leaves its directory, with the bundle's secrets, and
# its staged copies behind: remove both before anything else.
for stale in "$STATE"/run.*; do
  [ -d "$stale" ] || continue
  kill -0 "$(printf '%s' "$stale" | sed 's/^.*run\.//')" 2>/dev/null && continue
  if [ -f "$stale/tmps" ]; then while read -r t; do rm -f "$t.rm-new"; done < "$stale/tmps"; fi
  rm -rf "$stale"
done
RUN=$STATE/run.$$
mkdir -p "$STATE/backup" "$RUN/prev" || fail stage "cannot create $STATE (disk full or read-only?)"
# Only root may read the state: the bundle, backups of files that hold credentials, the manifest.
chmod 700 "$STATE" "$STATE/backup" "$RUN" || fail stage "cannot make $STATE private"
for f in manifest removing olddirs newdirs conflicts; do : > "$RUN/$f" || fail stage "cannot write in $STATE (disk full?)"; done
cat > "$RUN/stdin" || fail stage "cannot read the bundle on stdin (disk full?)"
meta() { awk -v k="$1" '$1=="RM-META" && $2==k {print $3; exit}' "$RUN/stdin"; }
ACTION=$(meta action); [ -n "$ACTION" ] || ACTION=none
WATCH=$(meta watch); MAIN=$(meta main); MAIN_EXPECTED=$(meta expected); MAIN_NEW=$(meta mainsha)
check_main_unchanged
pick_unit
