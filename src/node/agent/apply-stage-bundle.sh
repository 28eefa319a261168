# shellcheck shell=sh
# Apply: files that only the stdin bundle knows (the main config, files derived from the read), conflicts, removals.
awk '$1=="RM-STDIN-FILE" {print $2, $3, $4}' "$RUN/stdin" > "$RUN/xfiles"
while read -r p mode want; do
  new_file "$p"
  payload "$want" > "$p.rm-new" || fail stage "cannot write $p (disk full?)"
  stage f "$p" "$mode" "$want"
done < "$RUN/xfiles"
if [ -n "$MAIN" ]; then
  new_file "$MAIN"
  payload "$(meta mainsha)" > "$MAIN.rm-new" || fail stage "cannot write $MAIN (disk full?)"
  # Its own mode unless the plan says (0600 for a registries.yaml with credentials).
  mm=$(meta mainmode)
  stage m "$MAIN" "${mm:-keep}" "$(meta mainsha)"
fi
share_main
check_conflicts
plan_removals
# Last before the commit (cheap local refusals come first): every mirror endpoint answers from here as the runtime
# will reach it, or nothing is written.
run_probes
