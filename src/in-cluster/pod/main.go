// Command registry-mirrors-node-agent is the process of the in-cluster DaemonSet's pod (src/in-cluster). It runs
// the node agent the component rendered (POSIX sh from its ConfigMap, credentials from its Secret) on the host's filesystem, chrooted
// into the host's root mounted at /host, and stays Ready only once the agent finished: files written, read back and
// seen by the runtime. On failure it exits 1 with the agent's reason as the container's termination message, which
// the component's rollout wait reports with the node's name.
//
// The pod never undoes anything when it stops: a rollout replaces pods, and a pod cannot tell that from a delete.
// Removal is a rollout of its own (REGISTRY_MIRRORS_MODE=remove) that the component runs before the DaemonSet goes.
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const (
	// Where the component's ConfigMap (apply.sh, remove.sh: readable in previews) and Secret (apply.stdin: the
	// credentials) are mounted.
	scriptsDir = "/etc/registry-mirrors/scripts"
	secretDir  = "/etc/registry-mirrors/secret"
	// With config edits: each node's own apply stdin (<node>.stdin), written by the read step; optional.
	nodesDir = "/etc/registry-mirrors/nodes"
	// The host's root filesystem (hostPath /, mounted recursively).
	hostRoot = "/host"
	// Written once the agent succeeded; the readiness probe (`registry-mirrors-node-agent ready`) checks it.
	readyFile = "/run/registry-mirrors-node-agent/ready"
	// What the kubelet reports as the container's termination message.
	terminationLog = "/dev/termination-log"
	// The kubelet keeps at most 4096 bytes of a termination message.
	maxMessage = 4000
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "ready" {
		if _, err := os.Stat(readyFile); err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
	if len(os.Args) > 1 && os.Args[1] == "--version" {
		fmt.Println("registry-mirrors-node-agent")
		return
	}
	if err := run(); err != nil {
		msg := err.Error()
		if len(msg) > maxMessage {
			msg = "…" + msg[len(msg)-maxMessage:]
		}
		fmt.Fprintln(os.Stderr, msg)
		_ = os.WriteFile(terminationLog, []byte(msg), 0o644)
		os.Exit(1)
	}
	// Ready until the pod is stopped; stopping changes nothing on the node.
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	<-stop
}

func run() error {
	mode := os.Getenv("REGISTRY_MIRRORS_MODE")
	node := os.Getenv("NODE_NAME")
	var script, stdin []byte
	var err error
	switch mode {
	case "apply":
		if script, err = os.ReadFile(filepath.Join(scriptsDir, "apply.sh")); err != nil {
			return fmt.Errorf("registry-mirrors: node %s: step start: %v", node, err)
		}
		// This node's own plan (its config.toml edit) when the read step made one, else the hosts files only.
		if stdin, err = os.ReadFile(filepath.Join(nodesDir, node+".stdin")); err != nil {
			if stdin, err = os.ReadFile(filepath.Join(secretDir, "apply.stdin")); err != nil {
				return fmt.Errorf("registry-mirrors: node %s: step start: %v", node, err)
			}
		}
	case "read":
		if script, err = os.ReadFile(filepath.Join(scriptsDir, "read.sh")); err != nil {
			return fmt.Errorf("registry-mirrors: node %s: step start: %v", node, err)
		}
	case "remove":
		if script, err = os.ReadFile(filepath.Join(scriptsDir, "remove.sh")); err != nil {
			return fmt.Errorf("registry-mirrors: node %s: step start: %v", node, err)
		}
	default:
		return fmt.Errorf("registry-mirrors: node %s: step start: REGISTRY_MIRRORS_MODE is %q; the component sets apply, read or remove", node, mode)
	}
	timeout := 15 * time.Minute
	if s := os.Getenv("REGISTRY_MIRRORS_TIMEOUT_SECONDS"); s != "" {
		if n, err := strconv.Atoi(s); err == nil && n > 0 {
			timeout = time.Duration(n) * time.Second
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", string(script))
	cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: hostRoot}
	cmd.Dir = "/"
	cmd.Env = []string{
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"HOME=/root",
		"LANG=C",
		"NODE_NAME=" + node,
	}
	cmd.Stdin = bytes.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	// The agent's messages (warnings, the reason of a failure) go to the pod's log as they come.
	cmd.Stderr = io.MultiWriter(&stderr, os.Stderr)
	runErr := cmd.Run()
	if mode == "read" && runErr == nil && ctx.Err() == nil {
		// The read holds the node's config.toml and this instance's files (credentials, maybe): the log gets it sealed.
		if err := printSealed(stdout.Bytes(), os.Getenv("REGISTRY_MIRRORS_READ_KEY")); err != nil {
			return fmt.Errorf("registry-mirrors: node %s: step read: %v", node, err)
		}
		return markReady(node, mode)
	}
	done := summarize(stdout.Bytes())
	if ctx.Err() == context.DeadlineExceeded {
		return fmt.Errorf("registry-mirrors: node %s: step %s: the node agent did not finish within %s", node, mode, timeout)
	}
	if runErr != nil {
		return fmt.Errorf("%s", reason(stderr.String(), fmt.Sprintf("registry-mirrors: node %s: step %s: the node agent failed (%v)", node, mode, runErr)))
	}
	if !done {
		return fmt.Errorf("%s", reason(stderr.String(), fmt.Sprintf("registry-mirrors: node %s: step %s: the node agent ended without reporting RM-DONE", node, mode)))
	}
	return markReady(node, mode)
}

func markReady(node, mode string) error {
	if err := os.MkdirAll(filepath.Dir(readyFile), 0o755); err != nil {
		return fmt.Errorf("registry-mirrors: node %s: step ready: %v", node, err)
	}
	return os.WriteFile(readyFile, []byte(mode+"\n"), 0o644)
}

// printSealed prints data sealed to the X25519 public key (raw, base64) of the rollout command that created the read
// step: an ephemeral key pair, AES-256-GCM under sha256("registry-mirrors read v1" | shared secret | both public keys).
// Between RM-SEALED-BEGIN and RM-SEALED-END, in lines of 4096 characters (the kubelet splits longer log lines).
func printSealed(data []byte, recipient string) error {
	raw, err := base64.StdEncoding.DecodeString(recipient)
	if err != nil {
		return fmt.Errorf("REGISTRY_MIRRORS_READ_KEY is not base64: %v", err)
	}
	peer, err := ecdh.X25519().NewPublicKey(raw)
	if err != nil {
		return fmt.Errorf("REGISTRY_MIRRORS_READ_KEY is not an X25519 public key: %v", err)
	}
	own, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	shared, err := own.ECDH(peer)
	if err != nil {
		return err
	}
	h := sha256.New()
	h.Write([]byte("registry-mirrors read v1"))
	h.Write(shared)
	h.Write(own.PublicKey().Bytes())
	h.Write(raw)
	block, err := aes.NewCipher(h.Sum(nil))
	if err != nil {
		return err
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return err
	}
	nonce := make([]byte, gcm.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return err
	}
	sealed := append(append(append([]byte{}, own.PublicKey().Bytes()...), nonce...), gcm.Seal(nil, nonce, data, nil)...)
	text := base64.StdEncoding.EncodeToString(sealed)
	var out strings.Builder
	out.WriteString("RM-SEALED-BEGIN\n")
	for len(text) > 0 {
		n := min(len(text), 4096)
		out.WriteString(text[:n] + "\n")
		text = text[n:]
	}
	out.WriteString("RM-SEALED-END\n")
	_, err = os.Stdout.WriteString(out.String())
	return err
}

// summarize prints the agent's one-line results to the pod's log (not its base64 blocks: file contents stay out of
// logs) and tells whether it reported RM-DONE.
func summarize(out []byte) bool {
	done := false
	block := false
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1024*1024), 16*1024*1024)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case block:
			block = line != "RM-END"
		case strings.HasPrefix(line, "RM-CONTENT") || strings.HasPrefix(line, "RM-MANIFEST") ||
			strings.HasPrefix(line, "RM-OWNED") || strings.HasPrefix(line, "RM-READBACK"):
			block = true
		case strings.HasPrefix(line, "RM-"):
			fmt.Println(line)
			if strings.HasPrefix(line, "RM-DONE") {
				done = true
			}
		}
	}
	return done
}

// reason is what the agent said about its failure: its last `registry-mirrors: node …` message that is not a
// warning, with the lines that follow it (a probe lists each endpoint on its own line); else the fallback.
func reason(stderr, fallback string) string {
	lines := strings.Split(strings.TrimRight(stderr, "\n"), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.HasPrefix(lines[i], "registry-mirrors: ") && !strings.Contains(lines[i], ": warning: ") {
			return strings.Join(lines[i:], "\n")
		}
	}
	return fallback
}
