# shellcheck shell=sh
# Apply, last part: the journal, the renames, the restart or reload, rollback on failure, the read-back.
check_main_unchanged
# A run cut off before its restart leaves this behind, so the next run restarts even if no file changes.
if [ -f "$STATE/pending" ]; then ACTION=$(cat "$STATE/pending"); say pending >> "$RUN/trigger"; fi
if [ "$ACTION" != none ] && [ -s "$RUN/trigger" ]; then say "$ACTION" > "$STATE/pending"; fi
# Journal: the new manifest (with entries still to be removed) goes in place before any file is replaced.
[ -f "$STATE/manifest" ] && cp -p "$STATE/manifest" "$RUN/manifest.old"
{ say "v 2"; cat "$RUN/manifest" "$RUN/removing" "$RUN/olddirs" "$RUN/newdirs"; } > "$RUN/manifest.journal" || fail stage "cannot write the manifest (disk full?)"
mv -f "$RUN/manifest.journal" "$STATE/manifest" || fail commit "cannot write $STATE/manifest"
COMMITTED=1
if [ -f "$RUN/staged" ]; then
  while read -r p; do
    mv -f "$p.rm-new" "$p" || fail commit "cannot replace $p"
    say "RM-WROTE $p"
  done < "$RUN/staged"
fi
if [ -f "$RUN/removing" ]; then
  while read -r kind p backup rest; do
    restore_or_delete "$p" "$backup" || fail commit "cannot restore $p"
    say "RM-REMOVED $p"
  done < "$RUN/removing"
fi
{ say "v 2"; cat "$RUN/manifest" "$RUN/olddirs" "$RUN/newdirs"; } > "$RUN/manifest.final" && mv -f "$RUN/manifest.final" "$STATE/manifest"

ACTED=""
if [ "$ACTION" != none ] && [ -s "$RUN/trigger" ]; then
  if "$SYSTEMCTL" "$ACTION" "$UNIT" >"$RUN/systemctl.log" 2>&1 && wait_healthy; then
    rm -f "$STATE/pending"
    say "RM-ACTION $ACTION"
    ACTED=$ACTION
  else
    # The runtime may be half up: restart it on the previous files, and say why with its log.
    failed_log=$(runtime_log_tail)
    ACTED=restart
    roll_back "$ACTION" "$UNIT did not answer within $HEALTH_TIMEOUT s after $ACTION ($(tr '\n' ' ' < "$RUN/systemctl.log")). Last log lines of the failed $ACTION:
$failed_log"
  fi
fi
# The runtime's own view, then a pull through the mirrors alone: either failing puts the node back.
check_effective
prove_pull
# Read back what is on disk now, for verification.
if [ -f "$RUN/verify" ]; then
  while read -r p want; do
    got=$(sha "$p")
    [ "$got" = "$want" ] || fail verify "$p has sha256 $got after writing, expected $want"
    case $p in *.toml|*.conf) b64_block "RM-READBACK $p" "$p" ;; esac
  done < "$RUN/verify"
fi
cleanup_run
say "RM-DONE"
