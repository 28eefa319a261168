# shellcheck shell=sh
# Remove: this instance leaves the node; the last one to leave restores it.
if [ ! -f "$STATE/manifest" ]; then say "RM-DONE nothing to remove"; exit 0; fi
take_lock
compute_alone
pick_unit
RUN=$STATE/run.$$
mkdir -p "$RUN" || fail remove "cannot write in $STATE (disk full?)"
: > "$RUN/next"; : > "$RUN/dirs"
main_restored=0; files_removed=0
while read -r kind p backup written was; do
  case $kind in
    d) say "$p" >> "$RUN/dirs"; continue ;;
    f|m) ;;
    *) continue ;;
  esac
  [ -n "$was" ] || was=-
  others=$(others_of "$was")
  if ! owns "$was" || [ -n "$others" ]; then
    [ -n "$others" ] || others=$was
    say "$kind $p $backup $written $others" >> "$RUN/next"; continue
  fi
  case $kind in
    f)
      if [ -f "$p" ] && [ "$(sha "$p")" != "$written" ]; then leave_changed "$p" "$backup"; continue; fi
      restore_or_delete "$p" "$backup" || fail remove "cannot restore $p"; files_removed=1; say "RM-REMOVED $p" ;;
    m)
      if [ "$(sha "$p")" = "$written" ]; then
        restore_or_delete "$p" "$backup" || fail remove "cannot restore $p"; main_restored=1; say "RM-RESTORED $p"
      else
        note "$p was changed by someone else since it was written; it is left as it is"
      fi ;;
  esac
done < "$STATE/manifest"
# Directories we created, deepest first, when they are empty; the others stay recorded.
sort -r "$RUN/dirs" | while read -r d; do rmdir "$d" 2>/dev/null || true; done
if grep -q '^[fm] ' "$RUN/next"; then
  { say "v 2"; cat "$RUN/next"; while read -r d; do [ ! -d "$d" ] || say "d $d"; done < "$RUN/dirs"; } > "$RUN/manifest" || fail remove "cannot write the manifest (disk full?)"
  mv -f "$RUN/manifest" "$STATE/manifest" || fail remove "cannot write $STATE/manifest"
  # Backups nobody refers to any more go.
  for b in "$STATE"/backup/*; do
    [ -f "$b" ] || continue
    awk -v id="$(basename "$b")" '$3 == id {found = 1} END {exit !found}' "$STATE/manifest" || rm -f "$b"
  done
  rm -rf "$RUN"
else
  rm -rf "$STATE"
fi
RUN=""
action=none
[ "$main_restored" = 1 ] && action=$MAIN_ACTION
[ "$action" = none ] && [ "$files_removed" = 1 ] && action=$FILES_ACTION
if [ "$action" != none ]; then
  "$SYSTEMCTL" "$action" "$UNIT" >/dev/null 2>&1 && wait_healthy || fail "$action" "$UNIT did not answer within $HEALTH_TIMEOUT s after $action. Last log lines:
$(runtime_log_tail)"
  say "RM-ACTION $action"
fi
release_lock
say "RM-DONE"
