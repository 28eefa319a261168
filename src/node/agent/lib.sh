# shellcheck shell=sh
# The library every operation starts with: messages, the lock, ownership, staging, compare-and-swap.
#
# On-node state lives in STATE_DIR: `manifest` lists what registry-mirrors owns, one entry a line, after `v 2`:
#   f <path> <backup|-> <sha256 written> <owners>   a file; backup is the original's copy, `-` if it was absent
#   m <path> <backup|-> <sha256 written> <owners>   the runtime's main config (config.toml, daemon.json)
#   d <path>                                        a directory we created (removed once empty)
# Owners are the ids of the instances (components) that wrote the entry, comma-separated: several when they wrote
# the same content (the main config's `config_path`, a CA file), and the file is restored only when the last one
# leaves. A version-1 manifest has no owners field; such an entry belongs to `-`, the one instance of that time.
# Every write is staged as `<path>.rm-new` beside its target, checked, then renamed (atomic). The manifest is
# written before any rename, so an interrupted run is picked up by the next one.
#
# Runs under any POSIX sh (tested under dash, bash and busybox sh). Beyond POSIX it needs: sha256sum, base64 and
# stat -c (GNU coreutils or busybox), paste, timeout, systemctl and journalctl (the runtime's service), and ctr,
# crio or docker for health checks. Variables in capitals come from the header the command builder puts first.
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
# note TEXT: something a person should know; in the node's report and in the pulumi output.
note() { say "RM-WARNING $*"; printf 'registry-mirrors: node %s: warning: %s\n' "$NODE" "$*" >&2 || true; }
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
# Ownership. OWNER is this instance's id (project/stack/name#hash); RETIRE the ids it had before (aliases), which
# are itself too; PEERS its stack's prefix and TAKEOVER ids named by the user: owners whose claim on a path this
# instance may end. A peer is an earlier instance of the same stack, i.e. this component before a rename or a move:
# the files are handed over, and that instance's delete then leaves them alone. - owns what a version without
# owners wrote; it is this instance's own when no other instance is on the node (ALONE).
id_name() { printf '%s' "$1" | cut -d'#' -f1; }
is_me() {
  [ "$1" = "$OWNER" ] && return 0
  [ -n "$RETIRE" ] || return 1
  _n=$(id_name "$1")
  for _r in $RETIRE; do [ "$_n" = "$_r" ] && return 0; done
  return 1
}
is_self() { is_me "$1" || { [ "$1" = - ] && [ -n "$ALONE" ]; }; }
may_take() {
  [ "$1" = - ] && return 0
  _n=$(id_name "$1")
  if [ -n "$PEERS" ]; then case $_n in "$PEERS"*) return 0 ;; esac; fi
  for _r in $TAKEOVER; do [ "$_n" = "$_r" ] && return 0; done
  return 1
}
# owns OWNERS: this instance is among them. others_of OWNERS: the rest. with_self OWNERS: them and this instance.
owns() { for _t in $(printf '%s' "$1" | tr ',' ' '); do is_self "$_t" && return 0; done; return 1; }
# The usual case, an entry of this instance alone, costs no process.
others_of() {
  [ "$1" = "$OWNER" ] && return 0
  for _t in $(printf '%s' "$1" | tr ',' ' '); do is_self "$_t" || say "$_t"; done | paste -sd, -
}
blocking_of() { for _t in $(printf '%s' "$1" | tr ',' ' '); do may_take "$_t" || say "$_t"; done | paste -sd, -; }
with_self() { { say "$OWNER"; others_of "$1" | tr ',' '\n'; } | grep -v '^$' | paste -sd, -; }
# ALONE when no instance but this one (and -) owns anything on the node: set for a removal only (the last instance to
# leave takes what the ownerless version left); an apply never removes a file of the ownerless version it does not plan.
compute_alone() {
  ALONE=1
  [ -f "$STATE/manifest" ] || return 0
  for _t in $(awk '($1=="f" || $1=="m") {print (NF >= 5 ? $5 : "-")}' "$STATE/manifest" | tr ',' ' '); do
    if [ "$_t" != - ] && ! is_me "$_t"; then ALONE=""; return 0; fi
  done
}
# read_entry LINE: sets backup, written and was (the owners; - for a version-1 line) from a manifest line, by word
# splitting (paths hold no spaces or globs: validated), without a process per field.
read_entry() {
  set -f
  # shellcheck disable=SC2086
  set -- $1
  set +f
  backup=$3; written=$4; was=${5:--}
}
# A file that someone changed after registry-mirrors wrote it is not removed; an original it replaced is put beside it.
leave_changed() {
  if [ "$2" != - ] && [ -f "$STATE/backup/$2" ]; then
    cp -p "$STATE/backup/$2" "$1.registry-mirrors-original" 2>/dev/null || true
    note "$1 was changed since registry-mirrors wrote it, so it is left as it is and no longer managed; the file it had replaced is $1.registry-mirrors-original"
  else
    note "$1 was changed since registry-mirrors wrote it, so it is left as it is and no longer managed"
  fi
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
# stage KIND PATH MODE SHA: PATH.rm-new holds the new content; checks it and records what the commit will do. A path
# another instance owns is shared when the content is the same, handed over from a peer, and otherwise a conflict.
stage() {
  kind=$1; p=$2; mode=$3; want=$4
  owners=$OWNER
  old=$(manifest_get "$kind" "$p")
  if [ -n "$old" ]; then
    read_entry "$old"
    others=$(others_of "$was")
    # A file of the ownerless version that this plan writes is this instance's from now on.
    if [ -n "$others" ] && [ "$kind" != m ]; then others=$(printf '%s' "$others" | tr ',' '\n' | grep -vx -- - | paste -sd, -); fi
    if [ -n "$others" ]; then
      if [ "$written" = "$want" ]; then owners=$(with_self "$was")
      else
        blocking=$(blocking_of "$others")
        if [ -n "$blocking" ]; then say "$p $blocking" >> "$RUN/conflicts"; rm -f "$p.rm-new"; return 0; fi
        if [ "$kind" = m ]; then owners=$(with_self "$was")
        else
          note "$p is taken over from $others (an earlier instance of this stack, or named in takeOver)"
        fi
      fi
    fi
  elif [ -f "$p" ]; then
    backup=$(path_id "$p")
    cp -p "$p" "$STATE/backup/$backup" || fail stage "cannot back up $p (disk full?)"
    # The main config is edited, not replaced: its backup is routine. Any other file there is someone else's.
    [ "$kind" = m ] || note "$p was not written by registry-mirrors: it is replaced, and the original, kept as $STATE/backup/$backup, is put back when registry-mirrors removes the file"
  else backup=-; fi
  say "$kind $p $backup $want $owners" >> "$RUN/manifest"
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
  if [ "$kind" = m ] || [ "$RESTART_ON" = any-file ]; then say "$p" >> "$RUN/trigger"; fi
}
# new_file PATH: prepares writing PATH.rm-new (parents created and recorded, temp registered for cleanup).
new_file() {
  ensure_dir "$(dirname "$1")" || fail stage "cannot create the directory of $1"
  say "$1" >> "$RUN/tmps"
}
payload() { awk -v id="$1" '$0=="RM-END "id {p=0} p {print} $0=="RM-FILE "id {p=1}' "$RUN/stdin" | base64 -d; }
# Entries the plan no longer has. Files only this instance owns are restored or deleted at commit (unless someone
# changed them since); a shared one loses this instance as an owner; other instances' entries, the main config
# (kept while this instance exists) and directories stay.
plan_removals() {
  [ -f "$STATE/manifest" ] || return 0
  # The keep-list is read in BEGIN, not with the NR==FNR idiom: that one takes the old manifest for the keep-list
  # when the new one is empty, and an empty plan then removed nothing.
  keep_awk='BEGIN { while ((getline line < keep) > 0) { split(line, f, " "); k[f[1] " " f[2]] = 1 } }'
  awk -v keep="$RUN/manifest" "$keep_awk"' ($1=="f" || $1=="m") && !(($1" "$2) in k)' "$STATE/manifest" > "$RUN/unplanned"
  awk '$1=="d"' "$STATE/manifest" >> "$RUN/olddirs"
  while read -r kind p backup written was; do
    [ -n "$was" ] || was=-
    if [ "$kind" = m ] || ! owns "$was"; then say "$kind $p $backup $written $was" >> "$RUN/manifest"; continue; fi
    others=$(others_of "$was")
    if [ -n "$others" ]; then say "$kind $p $backup $written $others" >> "$RUN/manifest"; continue; fi
    if [ -f "$p" ] && [ "$(sha "$p")" != "$written" ]; then leave_changed "$p" "$backup"; continue; fi
    say "$kind $p $backup $written $was" >> "$RUN/removing"
    if [ -f "$p" ]; then cp -p "$p" "$RUN/prev/$(path_id "$p")" || fail stage "cannot keep a copy of $p (disk full?)"; fi
    say "$p" >> "$RUN/changed"
    if [ "$RESTART_ON" = any-file ]; then say "$p" >> "$RUN/trigger"; fi
  done < "$RUN/unplanned"
  # No file of the ownerless version left outside this plan: this instance was that version's one instance, and the
  # main config's edit is its own too.
  if ! awk '$1=="f" && ("," $5 ",") ~ /,-,/ {found = 1} END {exit !found}' "$RUN/manifest"; then
    awk -v me="$OWNER" '$1=="m" { n = split($5, o, ","); s = ""; for (i = 1; i <= n; i++) if (o[i] != "-") s = s (s == "" ? "" : ",") o[i]; $5 = (s == "" ? me : s) } {print}' "$RUN/manifest" > "$RUN/manifest.owners" &&
      mv -f "$RUN/manifest.owners" "$RUN/manifest"
  fi
}
# A plan that keeps the main config as it is relies on it all the same (containerd's config_path, set by another
# instance): this instance becomes one more owner of that edit, which then stays until the last owner leaves.
share_main() {
  [ -z "$MAIN" ] && [ -n "$WATCH" ] || return 0
  old=$(manifest_get m "$WATCH")
  [ -n "$old" ] || return 0
  read_entry "$old"
  say "m $WATCH $backup $written $(with_self "$was")" >> "$RUN/manifest"
}
# Every path another instance owns with other content, at once; before anything is written.
check_conflicts() {
  [ -s "$RUN/conflicts" ] || return 0
  first=$(head -n 1 "$RUN/conflicts" | cut -d' ' -f2 | cut -d, -f1)
  fail ownership "paths owned by another registry-mirrors instance would get other content; nothing was written.
$(while read -r cp co; do printf '  %s belongs to %s\n' "$cp" "$co"; done < "$RUN/conflicts")
  This instance is $OWNER. Configure each upstream in one instance only (remove it from one of them), or let this one take the paths over with takeOver: [\"$(id_name "$first")\"] (that instance then no longer configures them)."
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
# UNIT may name candidates (k3s servers run k3s, agents k3s-agent): the first one that is active, else the first.
pick_unit() {
  case $UNIT in *" "*) ;; *) return 0 ;; esac
  for u in $UNIT; do
    if "$SYSTEMCTL" is-active --quiet "$u" 2>/dev/null; then UNIT=$u; return 0; fi
  done
  UNIT=${UNIT%% *}
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
