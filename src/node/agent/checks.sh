# shellcheck shell=sh
# Checks beyond our own files: every mirror endpoint probed from the node before anything is written, the running
# runtime asked what it loaded, and an image pulled through the mirrors alone; a failure after the commit rolls back.
# Bundle lines: RM-PROBE <label> <severity> <url> <ca|-> <cert|-> <key|-> <skip 0|1> <creds 0|1> <curl-cfg> <wget-cfg>
# and RM-PROOF <label> <name> <payload>, payload ids naming RM-FILE blocks. Needs curl or GNU wget for probes; ctr,
# skopeo/podman or docker for proofs; crictl (or containerd) and docker for the runtime's own view.

# cri_answers SOCKET: crictl is here and a CRI runtime answers on SOCKET.
cri_answers() { command -v "$CRICTL" >/dev/null 2>&1 && timeout 10 "$CRICTL" -r "unix://$1" version >/dev/null 2>&1; }

# probe_get URL DIR: one GET with DIR/curl or DIR/wget as config; sets code (000 when there was no HTTP answer),
# secs, rc and err, and leaves the response headers in DIR/headers.
probe_get() {
  : > "$2/headers"
  if [ "$PROBE_TOOL" = curl ]; then
    out=$(curl -sS -o /dev/null -D "$2/headers" -w '%{http_code} %{time_total}' -K "$2/curl" --connect-timeout 5 --max-time "$PROBE_TIMEOUT" "$1" 2>"$2/err" </dev/null)
    rc=$?
    code=${out%% *}; secs=${out#* }
  else
    t0=$(date +%s)
    wget --config="$2/wget" -S -O /dev/null --tries=1 --timeout="$PROBE_TIMEOUT" "$1" 2>"$2/err" </dev/null
    rc=$?
    secs=$(($(date +%s) - t0))
    sed -n 's/^  //p' "$2/err" > "$2/headers"
    code=$(awk '/^HTTP\// {c = $2} END {print (c == "" ? "000" : c)}' "$2/headers")
  fi
  [ -n "$code" ] || code=000
  err=$(grep -v '^  ' "$2/err" | head -c 300 | tr '\n' ' ')
}

# probe_verdict LABEL DIR CREDS: what the answer in code/rc/err means; sets verdict (ok or fail) and detail.
probe_verdict() {
  verdict=fail
  case $code in
    000)
      if [ "$PROBE_TOOL" = curl ]; then
        case $rc in
          6) detail="cannot resolve the host name from the node: check its DNS or /etc/hosts ($err)" ;;
          7) detail="connection refused: nothing listens there, or a firewall rejects the node; check the mirror runs and the port ($err)" ;;
          28) detail="no answer within $PROBE_TIMEOUT s: check the network path (firewall, proxy, routing) from the node ($err)" ;;
          35 | 51 | 53 | 54 | 58 | 59 | 60 | 64 | 66 | 77 | 80 | 82 | 83 | 90 | 91)
            detail="TLS failed: the node does not trust the mirror's certificate or the client certificate is refused; set caCert to the CA that signs it, or check clientCert/clientKey ($err)" ;;
          *) detail="no HTTP answer (curl exit $rc: $err)" ;;
        esac
      else
        case $rc in
          5) detail="TLS failed: the node does not trust the mirror's certificate; set caCert to the CA that signs it ($err)" ;;
          *) detail="no HTTP answer (wget exit $rc: $err): check the host, the port and the network path from the node" ;;
        esac
      fi
      ;;
    2??) verdict=ok; detail="HTTP $code" ;;
    401)
      challenge=$(grep -i '^www-authenticate:' "$2/headers" | head -n 1 | tr -d '\r')
      if [ -z "$challenge" ]; then detail="HTTP 401 without a WWW-Authenticate challenge: not a registry API root; check the URL"
      elif [ "$3" = 0 ]; then verdict=ok; detail="HTTP 401 with a challenge (anonymous pulls get a token)"
      else
        case $challenge in
          *[Bb]earer*)
            realm=$(printf '%s' "$challenge" | sed -n 's/.*realm="\([^"]*\)".*/\1/p')
            service=$(printf '%s' "$challenge" | sed -n 's/.*service="\([^"]*\)".*/\1/p')
            if [ -z "$realm" ]; then detail="HTTP 401 with a Bearer challenge that names no realm"
            else
              probe_get "$realm${service:+?service=$service}" "$2"
              case $code in
                2??) verdict=ok; detail="HTTP 401 then a token from $realm for the credentials" ;;
                000) detail="the token service $realm did not answer ($err)" ;;
                *) detail="the token service $realm answered HTTP $code to the credentials: check auth.username and auth.password" ;;
              esac
            fi
            ;;
          *) detail="HTTP 401: the mirror rejects the credentials; check auth.username and auth.password (or the Authorization header)" ;;
        esac
      fi
      ;;
    403) detail="HTTP 403: the mirror refuses this node or these credentials; check its access rules and auth" ;;
    *) detail="HTTP $code for /v2/: not the API root of a registry; check the URL (scheme, host, port)" ;;
  esac
}

# run_probes: every RM-PROBE of the bundle, within PROBE_BUDGET seconds; any failure of severity error fails the run
# before anything is written. Credentials and keys are only in files of this run's private directory.
run_probes() {
  awk '$1=="RM-PROBE"' "$RUN/stdin" > "$RUN/probes"
  [ -s "$RUN/probes" ] || return 0
  if curl --version >/dev/null 2>&1; then PROBE_TOOL=curl
  elif wget --version 2>/dev/null | grep -q 'GNU Wget'; then PROBE_TOOL=wget
  else
    note "mirror endpoints were not probed: the node has neither curl nor GNU wget (install one, or set probe: \"off\")"
    say "RM-PROBE-RESULT - skipped 0 neither curl nor GNU wget on the node"
    return 0
  fi
  bundle=""
  for f in /etc/ssl/certs/ca-certificates.crt /etc/pki/tls/certs/ca-bundle.crt /etc/ssl/cert.pem; do
    if [ -f "$f" ]; then bundle=$f; break; fi
  done
  started=$(date +%s); n=0
  : > "$RUN/probe-failed"
  while read -r _ label severity url ca cert key skip creds curlcfg wgetcfg; do
    n=$((n + 1)); d=$RUN/probe.$n
    mkdir "$d" || fail probe "cannot write in $RUN (disk full?)"
    if [ $(($(date +%s) - started)) -ge "$PROBE_BUDGET" ]; then
      code=000; secs=0; verdict=fail; detail="not probed: the probes of this node used up their budget of $PROBE_BUDGET s"
    else
      payload "$curlcfg" > "$d/curl"; payload "$wgetcfg" > "$d/wget"
      if [ "$ca" != - ]; then
        # The runtime trusts the system's roots and this CA together.
        { payload "$ca"; [ -z "$bundle" ] || cat "$bundle"; } > "$d/ca"
        say "cacert = \"$d/ca\"" >> "$d/curl"; say "ca_certificate = $d/ca" >> "$d/wget"
      fi
      if [ "$cert" != - ]; then
        payload "$cert" > "$d/cert"; payload "$key" > "$d/key"
        printf 'cert = "%s"\nkey = "%s"\n' "$d/cert" "$d/key" >> "$d/curl"
        printf 'certificate = %s\nprivate_key = %s\n' "$d/cert" "$d/key" >> "$d/wget"
      fi
      if [ "$skip" = 1 ]; then say insecure >> "$d/curl"; say "check_certificate = off" >> "$d/wget"; fi
      probe_get "$url" "$d"
      probe_verdict "$label" "$d" "$creds"
    fi
    rm -rf "$d"
    ms=$(awk -v s="$secs" 'BEGIN {printf "%d", s * 1000}')
    if [ "$verdict" = ok ]; then say "RM-PROBE-RESULT $label ok $ms $detail"
    elif [ "$severity" = warn ]; then
      say "RM-PROBE-RESULT $label warn $ms $detail"
      note "mirror $label does not answer from this node ($detail); its pulls fall back to the next endpoint or the upstream (probe: \"warn\")"
    else
      say "RM-PROBE-RESULT $label fail $ms $detail"
      say "  $label: $detail" >> "$RUN/probe-failed"
    fi
  done < "$RUN/probes"
  [ -s "$RUN/probe-failed" ] || return 0
  fail probe "mirror endpoints do not answer from this node as the runtime would reach them; nothing was written.
$(cat "$RUN/probe-failed")
  Fix the mirror or the endpoint's settings, or set probe: \"warn\" (for mirrors with fallback) or probe: \"off\"."
}

# roll_back STEP MESSAGE: after the commit, puts every replaced file back (and removes the directories this run
# made), brings the runtime up on that configuration again when it was restarted or reloaded, and fails.
roll_back() {
  if [ -f "$RUN/changed" ]; then
    while read -r p; do
      id=$(path_id "$p")
      if [ -f "$RUN/prev/$id" ]; then cp -p "$RUN/prev/$id" "$p.rm-new" && mv -f "$p.rm-new" "$p"; else rm -f "$p"; fi
    done < "$RUN/changed"
  fi
  if [ -f "$RUN/manifest.old" ]; then cp -p "$RUN/manifest.old" "$STATE/manifest"; else rm -f "$STATE/manifest"; fi
  awk '{print $2}' "$RUN/newdirs" | sort -r | while read -r d; do rmdir "$d" 2>/dev/null || true; done
  rm -f "$STATE/pending"
  back="the previous files were restored"
  if [ -n "$ACTED" ]; then
    "$SYSTEMCTL" "$ACTED" "$UNIT" >/dev/null 2>&1
    if wait_healthy; then back="$back and $UNIT is running again with the previous configuration"
    else back="$back, but $UNIT did not come back with the previous configuration either"; fi
  fi
  fail "$1" "$2
  Rolled back: $back."
}

# containerd_canary HOSTS_DIR SOCKET [nodump]: whether the running containerd reads HOSTS_DIR (see check_effective);
# nodump: no `containerd config dump` without crictl (a distribution's containerd has another config than that).
containerd_canary() {
  # A canary: a hosts.toml for a name that does not exist, sending it to 127.0.0.1:9, and a CRI pull of it. The
  # error names 127.0.0.1:9 only when the running CRI plugin read our directory (on 1.6, 1.7 and 2.x alike; 2.x's
  # crictl info no longer shows config_path). Nothing is pulled, nothing listens there.
  want=$1; sock=$2; canary=registry-mirrors-canary.invalid
  if command -v "$CRICTL" >/dev/null 2>&1; then
    mkdir -p "$want/$canary" && printf 'server = "http://127.0.0.1:9"\n\n[host."http://127.0.0.1:9"]\n  capabilities = ["pull", "resolve"]\n' > "$want/$canary/hosts.toml"
    timeout 30 "$CRICTL" -r "unix://$sock" -i "unix://$sock" pull "$canary/registry-mirrors/canary:check" > "$RUN/info" 2>&1 </dev/null
    rm -rf "${want:?}/$canary"
    said=$(grep -o 'failed to do request: [^"]*"[^"]*"' "$RUN/info" | head -n 1)
    if grep -q '127\.0\.0\.1:9' "$RUN/info"; then
      say "RM-EFFECTIVE containerd reads $want: a CRI pull of a canary host went where its hosts.toml there sends it"
      return 0
    elif grep -q "$canary/v2" "$RUN/info"; then
      roll_back effective "containerd does not read the hosts directory registry-mirrors wrote ($want): a CRI pull of a canary host configured there went to the host itself (${said:-see crictl}). Either containerd runs with another config.toml than ${MAIN:-$WATCH} (set paths.containerdConfig to the file it uses: systemctl cat containerd), or it was not restarted since config_path was set."
    fi
    note "containerd was not asked what it loaded: a CRI pull over $sock failed otherwise ($(tail -n 1 "$RUN/info" | head -c 300))"
    say "RM-EFFECTIVE unchecked the CRI pull of a canary failed otherwise"
    return 0
  fi
  if [ -z "${3:-}" ] && command -v containerd >/dev/null 2>&1 && timeout 15 containerd config dump > "$RUN/info" 2>/dev/null; then
    seen=$(grep -o 'config_path *= *"[^"]*"' "$RUN/info" | head -n 1 | sed 's/.*= *"\(.*\)"/\1/')
    note "crictl is missing: what containerd config dump reads from disk was checked, not what the running containerd loaded"
    say "RM-EFFECTIVE containerd config dump (on disk) config_path=${seen:-<none>}"
    first=${seen%%:*}
    [ "${first%/}" = "${want%/}" ] && return 0
    roll_back effective "containerd's config on disk does not point at the hosts directory registry-mirrors wrote: containerd config dump reports config_path \"${seen}\", not \"$want\" (set paths.containerdConfig to the file containerd uses: systemctl cat containerd)"
  fi
  note "containerd was not asked what it loaded: neither $CRICTL nor containerd config dump is available"
  say "RM-EFFECTIVE unchecked neither crictl nor containerd config dump is available"
}
# check_effective: asks the running runtime whether it uses what was written. EFFECTIVE is `containerd <hosts dir>
# <socket>`, `k3s|rke2 <generated hosts dir> <socket> <dir name>|<scheme://host:port>…`, `cri-o <registries dir>
# <socket>`, `docker <mirror url>…` or empty (not checked).
check_effective() {
  [ -n "$EFFECTIVE" ] || return 0
  # shellcheck disable=SC2086 # the kind and its words
  set -- $EFFECTIVE
  case $1 in
    containerd) containerd_canary "$2" "$3" ;;
    k3s | rke2)
      # The distribution writes its containerd's hosts files from registries.yaml at each start: each of our endpoints
      # must be in the hosts.toml it generated, and its containerd must read that directory.
      kind=$1; dir=$2; sock=$3; shift 3
      for want in "$@"; do
        name=${want%%|*}; url=${want#*|}
        grep -qF "[host.\"$url" "$dir/$name/hosts.toml" 2>/dev/null ||
          roll_back effective "$kind did not configure its containerd with the mirror $url for $name: $dir/$name/hosts.toml $( [ -f "$dir/$name/hosts.toml" ] && echo "does not name it" || echo "is missing") after the restart. Check that $kind reads ${MAIN:-$WATCH} (its --private-registry) and runs as $UNIT."
      done
      containerd_canary "$dir" "$sock" nodump
      ;;
    docker)
      shift
      if ! timeout 15 docker info --format '{{json .RegistryConfig.Mirrors}}' > "$RUN/info" 2>"$RUN/info.err"; then
        note "Docker was not asked what it loaded: docker info failed ($(head -c 200 "$RUN/info.err" | tr '\n' ' '))"
        say "RM-EFFECTIVE unchecked docker info failed"
        return 0
      fi
      say "RM-EFFECTIVE docker mirrors=$(tr -d '\n' < "$RUN/info")"
      tr -d '[]"\n' < "$RUN/info" | tr ',' '\n' | sed 's:/*$::' > "$RUN/mirrors"
      for u in "$@"; do
        grep -qxF "${u%/}" "$RUN/mirrors" || roll_back effective "dockerd does not use the mirror $u: docker info reports registry mirrors $(cat "$RUN/info"). Check that dockerd reads ${MAIN:-$WATCH} (its --config-file) and that it was reloaded."
      done
      ;;
    cri-o)
      # The same canary as containerd's, as a drop-in: CRI-O re-reads registries.conf.d on reload (SIGHUP), so the
      # canary needs a reload in and one out. Its error names 127.0.0.1:9 only when the running CRI-O read the drop-in.
      dir=$2; sock=$3; canary=registry-mirrors-canary.invalid
      if ! cri_answers "$sock"; then
        say "RM-EFFECTIVE unchecked CRI-O does not answer on $sock (or crictl is missing); the proof pull (verify.pull) shows the mirrors in use"
        return 0
      fi
      printf '[[registry]]\nprefix = "%s"\nlocation = "127.0.0.1:9"\ninsecure = true\n' "$canary" > "$dir/00-registry-mirrors-canary.conf"
      "$SYSTEMCTL" reload "$UNIT" >/dev/null 2>&1
      tries=0
      while :; do
        timeout 30 "$CRICTL" -r "unix://$sock" -i "unix://$sock" pull "$canary/registry-mirrors/canary:check" > "$RUN/info" 2>&1 </dev/null
        grep -q '127\.0\.0\.1:9' "$RUN/info" && break
        tries=$((tries + 1)); [ "$tries" -lt 5 ] || break
        sleep 1
      done
      rm -f "$dir/00-registry-mirrors-canary.conf"
      "$SYSTEMCTL" reload "$UNIT" >/dev/null 2>&1
      if grep -q '127\.0\.0\.1:9' "$RUN/info"; then
        say "RM-EFFECTIVE cri-o reads $dir: after a reload, a CRI pull of a canary host went where a drop-in there sends it"
        return 0
      fi
      roll_back effective "CRI-O does not read the registries directory registry-mirrors wrote ($dir): after a reload, a CRI pull of a canary host configured there did not go where the drop-in sends it ($(tail -n 1 "$RUN/info" | head -c 300)). Check CRI-O's registries configuration (crio --registries-conf-dir, or CONTAINERS_REGISTRIES_CONF in its unit) and set paths.registriesDir to the directory it reads."
      ;;
  esac
}

# prove_pull: pulls PROOF_REF once per attempt (an endpoint each, never the upstream) until one serves it; reports
# the digest and the endpoint, and removes what it pulled. No endpoint serving it rolls the node back.
prove_pull() {
  [ -n "$PROOF_REF" ] || return 0
  awk '$1=="RM-PROOF" {print $2, $3, $4}' "$RUN/stdin" > "$RUN/proofs"
  : > "$RUN/proof-failed"; n=0
  while read -r label name id; do
    n=$((n + 1)); d=$RUN/proof.$n
    mkdir -p "$d/img" || fail proof "cannot write in $RUN (disk full?)"
    case $PROOF_KIND in
      containerd)
        mkdir -p "$d/hosts/$name" && payload "$id" > "$d/hosts/$name/hosts.toml"
        ns=registry-mirrors-proof
        if timeout "$PROOF_TIMEOUT" "$CTR" --address "$CRI_SOCKET" -n "$ns" images pull --hosts-dir "$d/hosts" "$PROOF_REF" > "$d/log" 2>&1 </dev/null; then
          digest=$("$CTR" --address "$CRI_SOCKET" -n "$ns" images ls 2>/dev/null | awk -v r="$PROOF_REF" '$1 == r {print $3}')
          "$CTR" --address "$CRI_SOCKET" -n "$ns" images rm --sync "$PROOF_REF" >/dev/null 2>&1 || "$CTR" --address "$CRI_SOCKET" -n "$ns" images rm "$PROOF_REF" >/dev/null 2>&1
          "$CTR" --address "$CRI_SOCKET" namespaces rm "$ns" >/dev/null 2>&1
          say "RM-PROOF-RESULT ok $label ${digest:-unknown}"; rm -rf "$d"; return 0
        fi
        "$CTR" --address "$CRI_SOCKET" -n "$ns" images rm "$PROOF_REF" >/dev/null 2>&1
        ;;
      cri-o)
        payload "$id" > "$d/registries.conf"
        if cri_answers "$CRI_SOCKET"; then
          # Through CRI-O itself: a drop-in for exactly this repository (the longest prefix wins over every other
          # drop-in) located at the endpoint, in for one pull. An image the node already had is left there.
          drop=$PROOF_DIR/zz-registry-mirrors-proof.conf
          had=""; "$CRICTL" -r "unix://$CRI_SOCKET" inspecti "$PROOF_REF" >/dev/null 2>&1 && had=1
          cp "$d/registries.conf" "$drop" && "$SYSTEMCTL" reload "$UNIT" >/dev/null 2>&1
          ok=""
          if timeout "$PROOF_TIMEOUT" "$CRICTL" -r "unix://$CRI_SOCKET" -i "unix://$CRI_SOCKET" pull "$PROOF_REF" > "$d/log" 2>&1 </dev/null; then
            ok=1
            digest=$("$CRICTL" -r "unix://$CRI_SOCKET" inspecti -o json "$PROOF_REF" 2>/dev/null | grep -o '@sha256:[0-9a-f]*' | head -n 1 | cut -c2-)
            [ -n "$had" ] || "$CRICTL" -r "unix://$CRI_SOCKET" rmi "$PROOF_REF" >/dev/null 2>&1
          fi
          rm -f "$drop"; "$SYSTEMCTL" reload "$UNIT" >/dev/null 2>&1
          if [ -n "$ok" ]; then say "RM-PROOF-RESULT ok $label ${digest:-unknown}"; rm -rf "$d"; return 0; fi
        elif command -v skopeo >/dev/null 2>&1; then
          # No CRI-O socket (podman/skopeo hosts): the same library, with a temporary registries.conf.
          auth=""; [ -z "$AUTH_FILE" ] || [ ! -f "$AUTH_FILE" ] || auth="--authfile=$AUTH_FILE"
          # shellcheck disable=SC2086 # auth is one option or none
          if timeout "$PROOF_TIMEOUT" skopeo --registries-conf "$d/registries.conf" copy $auth --digestfile "$d/digest" "docker://$PROOF_REF" "dir:$d/img" > "$d/log" 2>&1 </dev/null; then
            say "RM-PROOF-RESULT ok $label $(cat "$d/digest")"; rm -rf "$d"; return 0
          fi
        else
          say "neither a CRI-O socket at $CRI_SOCKET nor skopeo on the node" > "$d/log"
        fi
        ;;
      docker)
        if timeout "$PROOF_TIMEOUT" docker pull "$PROOF_REF" > "$d/log" 2>&1 </dev/null; then
          digest=$(docker image inspect --format '{{index .RepoDigests 0}}' "$PROOF_REF" 2>/dev/null | sed 's/.*@//')
          docker rmi "$PROOF_REF" >/dev/null 2>&1
          say "RM-PROOF-RESULT ok $label ${digest:-unknown}"; rm -rf "$d"; return 0
        fi
        ;;
    esac
    say "  through $label: $(tail -n 3 "$d/log" | tr '\n' ' ' | head -c 400)" >> "$RUN/proof-failed"
    rm -rf "$d"
  done < "$RUN/proofs"
  # Nothing of a failed proof stays on the node: containerd's namespace for it goes too.
  [ "$PROOF_KIND" != containerd ] || "$CTR" --address "$CRI_SOCKET" namespaces rm registry-mirrors-proof >/dev/null 2>&1
  say "RM-PROOF-RESULT fail - -"
  roll_back proof "no mirror endpoint served $PROOF_REF (the upstream was excluded from the proof pull):
$(cat "$RUN/proof-failed")
  Check that the mirror has the image (or can fetch it from the upstream) and that the node may pull it, or verify with another image."
}
