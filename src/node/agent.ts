/**
 * The POSIX sh that runs on a node. One library of functions (below) plus a generated main part per operation:
 * read, apply, remove. It needs only coreutils (sha256sum, base64, cp, mv), awk and systemctl.
 *
 * On-node state lives in STATE_DIR: `manifest` lists what this tool owns, one entry a line:
 *   f <path> <backup|-> <sha256 written>   a file we wrote; backup is the original's copy, `-` if it was absent
 *   m <path> <backup|-> <sha256 written>   the runtime's main config (config.toml, daemon.json)
 *   d <path>                               a directory we created
 * Every write is staged as `<path>.rm-new` beside its target, checked, then renamed (atomic). The manifest is
 * written before any rename, so an interrupted run is picked up by the next one.
 */
export const AGENT_LIBRARY = String.raw`
set -u
# Everything this agent creates is root's alone until it sets a file's final mode: the stdin bundle, staged copies of
# credential files and the state directory never exist readable by others, not even for a moment.
umask 077
# A dropped SSH connection must not stop a run half-way: finish it, the next run reads the result.
trap '' HUP PIPE
say() { printf '%s\n' "$*" 2>/dev/null || true; }
fail() {
  step=$1; shift
  printf 'registry-mirrors: node %s: step %s: %s\n' "$NODE" "$step" "$*" >&2 || true
  cleanup_run
  exit 1
}
sha() { if [ -f "$1" ]; then sha256sum "$1" | cut -d' ' -f1; else echo absent; fi; }
path_id() { printf '%s' "$1" | sha256sum | cut -c1-24; }
b64_block() { say "$1"; base64 "$2" 2>/dev/null || true; say "RM-END"; }
cleanup_run() {
  if [ -n "$RUN" ] && [ -d "$RUN" ]; then
    if [ -f "$RUN/tmps" ]; then while read -r t; do rm -f "$t.rm-new"; done < "$RUN/tmps"; fi
    # Directories made by a run that never committed go too: nothing of it stays on the node.
    if [ -z "$COMMITTED" ] && [ -f "$RUN/newdirs" ]; then
      awk '{print $2}' "$RUN/newdirs" | sort -r | while read -r d; do rmdir "$d" 2>/dev/null || true; done
    fi
    rm -rf "$RUN"
  fi
  release_lock
}
# One run at a time on a node (two stacks, or two pulumi up, may reach it together): a lock directory beside the
# state holding its holder's pid. A holder that died is replaced; a live one is waited for, at most LOCK_TIMEOUT s.
take_lock() {
  LOCK="$STATE.lock"; waited=0
  while ! mkdir "$LOCK" 2>/dev/null; do
    holder=$(cat "$LOCK/pid" 2>/dev/null || true)
    if [ -n "$holder" ] && ! kill -0 "$holder" 2>/dev/null; then
      # Only if it is still that dead holder's: another waiter may have taken it over meanwhile.
      [ "$(cat "$LOCK/pid" 2>/dev/null || true)" = "$holder" ] && rm -rf "$LOCK"
      continue
    fi
    [ "$waited" -lt "$LOCK_TIMEOUT" ] || fail lock "another registry-mirrors run (pid $holder) has held $LOCK for $LOCK_TIMEOUT s; nothing was written. Run again when it is done, or remove $LOCK if no such process exists"
    sleep 1; waited=$((waited + 1))
  done
  say $$ > "$LOCK/pid"
  LOCKED=1
}
release_lock() {
  if [ -n "$LOCKED" ]; then rm -rf "$LOCK"; LOCKED=""; fi
}
manifest_get() { awk -v k="$1" -v p="$2" '$1==k && $2==p {print; exit}' "$STATE/manifest" 2>/dev/null; }
# Creates missing parents of a file, recording each directory it creates.
ensure_dir() {
  d=$1; missing=""
  while [ ! -d "$d" ]; do missing="$d $missing"; d=$(dirname "$d"); done
  for m in $missing; do mkdir -m 755 "$m" || return 1; say "d $m" >> "$RUN/newdirs"; done
}
# restore_or_delete PATH BACKUP: puts the original back byte for byte, or removes a file that did not exist.
restore_or_delete() {
  if [ "$2" = "-" ]; then rm -f "$1"
  else cp -p "$STATE/backup/$2" "$1.rm-new" && mv -f "$1.rm-new" "$1"; fi
}
# stage KIND PATH MODE SHA: PATH.rm-new holds the new content; checks it and records what the commit will do.
stage() {
  kind=$1; p=$2; mode=$3; want=$4
  old=$(manifest_get "$kind" "$p")
  if [ -n "$old" ]; then backup=$(printf '%s' "$old" | cut -d' ' -f3)
  elif [ -f "$p" ]; then
    backup=$(path_id "$p")
    cp -p "$p" "$STATE/backup/$backup" || fail stage "cannot back up $p (disk full?)"
  else backup=-; fi
  say "$kind $p $backup $want" >> "$RUN/manifest"
  say "$p $want" >> "$RUN/verify"
  if [ "$(sha "$p")" = "$want" ]; then rm -f "$p.rm-new"; return 0; fi
  [ "$(sha "$p.rm-new")" = "$want" ] || fail stage "the staged copy of $p is incomplete (disk full?); nothing was replaced"
  if [ "$mode" = keep ]; then
    if [ -f "$p" ]; then mode=$(stat -c %a "$p"); else mode=644; fi
  fi
  chmod "$mode" "$p.rm-new" || fail stage "cannot set the mode of $p"
  if [ -f "$p" ]; then cp -p "$p" "$RUN/prev/$(path_id "$p")" || fail stage "cannot keep a copy of $p (disk full?)"; fi
  say "$p" >> "$RUN/staged"
  say "$p" >> "$RUN/changed"
  if [ "$kind" = m ] || [ "$ACTION_ON" = any ]; then say "$p" >> "$RUN/trigger"; fi
}
# new_file PATH: prepares writing PATH.rm-new (parents created and recorded, temp registered for cleanup).
new_file() {
  ensure_dir "$(dirname "$1")" || fail stage "cannot create the directory of $1"
  say "$1" >> "$RUN/tmps"
}
payload() { awk -v id="$1" '$0=="RM-END "id {p=0} p {print} $0=="RM-FILE "id {p=1}' "$RUN/stdin" | base64 -d; }
# Owned files the plan no longer has: restored or deleted at commit. Main config and directory entries stay.
plan_removals() {
  [ -f "$STATE/manifest" ] || return 0
  # The keep-list is read in BEGIN, not with the NR==FNR idiom: that one takes the old manifest for the keep-list
  # when the new one is empty, and an empty plan then removed nothing.
  keep_awk='BEGIN { while ((getline line < keep) > 0) { split(line, f, " "); k[f[1] " " f[2]] = 1 } }'
  awk -v keep="$RUN/manifest" "$keep_awk"' $1=="f" && !(($1" "$2) in k)' "$STATE/manifest" > "$RUN/removing"
  awk -v keep="$RUN/manifest" "$keep_awk"' $1=="m" && !(($1" "$2) in k)' "$STATE/manifest" >> "$RUN/manifest"
  awk '$1=="d"' "$STATE/manifest" >> "$RUN/olddirs"
  while read -r kind p rest; do
    if [ -f "$p" ]; then cp -p "$p" "$RUN/prev/$(path_id "$p")" || fail stage "cannot keep a copy of $p (disk full?)"; fi
    say "$p" >> "$RUN/changed"
    if [ "$ACTION_ON" = any ]; then say "$p" >> "$RUN/trigger"; fi
  done < "$RUN/removing"
}
# Compare-and-swap: the main config must still be what the plan was computed from (checked before staging and
# again right before the commit), even when the plan does not change it: a plan from an outdated read is refused.
check_main_unchanged() {
  [ -n "$WATCH" ] || return 0
  now=$(sha "$WATCH")
  # Already holding what this run writes (an earlier run wrote it) is fine too.
  if [ "$now" != "$MAIN_EXPECTED" ] && { [ -z "$MAIN" ] || [ "$now" != "$MAIN_NEW" ]; }; then
    fail cas "$WATCH changed since it was read (sha256 $MAIN_EXPECTED expected, $now found); nothing was written. Read the node again to plan from the current file: $REREAD"
  fi
}
wait_healthy() {
  i=0
  while [ "$i" -lt "$HEALTH_TIMEOUT" ]; do
    if timeout 5 sh -c "$HEALTH" >/dev/null 2>&1; then return 0; fi
    i=$((i + 1)); sleep 1
  done
  return 1
}
runtime_log_tail() {
  journalctl -u "$UNIT" -n 20 --no-pager 2>/dev/null | sed 's/^/    /' || true
}
`;

/** Reads the node: runtime and version, the main config, the manifest and owned hosts.toml files. */
export const READ_MAIN = String.raw`
kind=$WANT_KIND
if [ "$kind" = auto ]; then
  if command -v crio >/dev/null 2>&1; then kind=cri-o
  elif command -v containerd >/dev/null 2>&1; then kind=containerd
  elif command -v dockerd >/dev/null 2>&1; then kind=docker
  else fail read "no container runtime found (looked for crio, containerd and dockerd on PATH); set the node's runtime"; fi
fi
case $kind in
  containerd) bin=containerd; main=$CONTAINERD_CONFIG ;;
  cri-o) bin=crio; main="" ;;
  docker) bin=dockerd; main=$DOCKER_DAEMON_JSON ;;
esac
say "RM-RUNTIME $kind"
say "RM-VERSION $($bin --version 2>/dev/null | head -n 1)"
if [ -n "$main" ]; then
  if [ -f "$main" ]; then say "RM-MAIN $(sha "$main") $main"; b64_block RM-CONTENT "$main"
  else say "RM-MAIN absent $main"; fi
fi
if [ -f "$STATE/manifest" ]; then
  b64_block RM-MANIFEST "$STATE/manifest"
  awk '$1=="f" || $1=="m" {print $2}' "$STATE/manifest" | while read -r p; do
    say "RM-SHA $(sha "$p") $p"
    case $p in */hosts.toml) [ -f "$p" ] && b64_block "RM-OWNED $p" "$p" ;; esac
  done
fi
`;

/** Start of an apply: the run directory, the stdin bundle and the values read from it. */
export const APPLY_STAGE = String.raw`
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
for f in manifest removing olddirs newdirs; do : > "$RUN/$f" || fail stage "cannot write in $STATE (disk full?)"; done
cat > "$RUN/stdin" || fail stage "cannot read the bundle on stdin (disk full?)"
meta() { awk -v k="$1" '$1=="RM-META" && $2==k {print $3; exit}' "$RUN/stdin"; }
ACTION=$(meta action); [ -n "$ACTION" ] || ACTION=none
WATCH=$(meta watch); MAIN=$(meta main); MAIN_EXPECTED=$(meta expected); MAIN_NEW=$(meta mainsha)
check_main_unchanged
`;

/** Files that only the stdin bundle knows: the main config and files derived from what was read. */
export const APPLY_STAGE_DYNAMIC = String.raw`
awk '$1=="RM-XFILE" {print $2, $3, $4}' "$RUN/stdin" > "$RUN/xfiles"
while read -r p mode want; do
  new_file "$p"
  payload "$want" > "$p.rm-new" || fail stage "cannot write $p (disk full?)"
  stage f "$p" "$mode" "$want"
done < "$RUN/xfiles"
if [ -n "$MAIN" ]; then
  new_file "$MAIN"
  payload "$(meta mainsha)" > "$MAIN.rm-new" || fail stage "cannot write $MAIN (disk full?)"
  stage m "$MAIN" keep "$(meta mainsha)"
fi
plan_removals
`;

/** Writes a plan (files were staged by the generated part), restarts if needed, rolls back on failure. */
export const APPLY_COMMIT = String.raw`
check_main_unchanged
# A run cut off before its restart leaves this behind, so the next run restarts even if no file changes.
if [ -f "$STATE/pending" ]; then ACTION=$(cat "$STATE/pending"); say pending >> "$RUN/trigger"; fi
if [ "$ACTION" != none ] && [ -s "$RUN/trigger" ]; then say "$ACTION" > "$STATE/pending"; fi
# Journal: the new manifest (with entries still to be removed) goes in place before any file is replaced.
[ -f "$STATE/manifest" ] && cp -p "$STATE/manifest" "$RUN/manifest.old"
cat "$RUN/manifest" "$RUN/removing" "$RUN/olddirs" "$RUN/newdirs" > "$RUN/manifest.journal" || fail stage "cannot write the manifest (disk full?)"
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
cat "$RUN/manifest" "$RUN/olddirs" "$RUN/newdirs" > "$RUN/manifest.final" && mv -f "$RUN/manifest.final" "$STATE/manifest"

if [ "$ACTION" != none ] && [ -s "$RUN/trigger" ]; then
  if systemctl "$ACTION" "$UNIT" >"$RUN/systemctl.log" 2>&1 && wait_healthy; then
    rm -f "$STATE/pending"
    say "RM-ACTION $ACTION"
  else
    # Put every replaced file back, bring the runtime up on its last good configuration, and say why.
    failed_log=$(runtime_log_tail)
    if [ -f "$RUN/changed" ]; then
      while read -r p; do
        id=$(path_id "$p")
        if [ -f "$RUN/prev/$id" ]; then cp -p "$RUN/prev/$id" "$p.rm-new" && mv -f "$p.rm-new" "$p"; else rm -f "$p"; fi
      done < "$RUN/changed"
    fi
    if [ -f "$RUN/manifest.old" ]; then cp -p "$RUN/manifest.old" "$STATE/manifest"; else rm -f "$STATE/manifest"; fi
    rm -f "$STATE/pending"
    systemctl restart "$UNIT" >/dev/null 2>&1
    if wait_healthy; then back="is running again with the previous configuration"; else back="did not come back with the previous configuration either"; fi
    fail "$ACTION" "$UNIT did not answer within $HEALTH_TIMEOUT s after $ACTION ($(tr '\n' ' ' < "$RUN/systemctl.log")); the previous files were restored and $UNIT $back. Last log lines of the failed $ACTION:
$failed_log"
  fi
fi
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
`;

/** Returns the node to its state before this tool: owned files removed, originals restored. */
export const REMOVE_MAIN = String.raw`
if [ ! -f "$STATE/manifest" ]; then say "RM-DONE nothing to remove"; exit 0; fi
take_lock
main_restored=0; files_removed=0
while read -r kind p backup written; do
  case $kind in
    f) restore_or_delete "$p" "$backup" || fail remove "cannot restore $p"; files_removed=1; say "RM-REMOVED $p" ;;
    m)
      if [ "$(sha "$p")" = "$written" ]; then
        restore_or_delete "$p" "$backup" || fail remove "cannot restore $p"; main_restored=1; say "RM-RESTORED $p"
      else
        say "RM-WARNING $p was changed by someone else since it was written; it is left as it is"
      fi ;;
  esac
done < "$STATE/manifest"
# Directories we created, deepest first, when they are empty.
awk '$1=="d" {print $2}' "$STATE/manifest" | sort -r | while read -r d; do rmdir "$d" 2>/dev/null || true; done
rm -rf "$STATE"
action=none
[ "$main_restored" = 1 ] && action=$MAIN_ACTION
[ "$action" = none ] && [ "$files_removed" = 1 ] && action=$FILES_ACTION
if [ "$action" != none ]; then
  systemctl "$action" "$UNIT" >/dev/null 2>&1 && wait_healthy || fail "$action" "$UNIT did not answer within $HEALTH_TIMEOUT s after $action. Last log lines:
$(runtime_log_tail)"
  say "RM-ACTION $action"
fi
release_lock
say "RM-DONE"
`;
