// Registry mirrors on existing machines reached over SSH, from a Pulumi Go program (see README.md):
//   - Docker Hub through a pull-through cache, falling back to Docker Hub;
//   - quay.io only through a private mirror with its own CA and basic auth (the machines never contact quay.io);
//   - one SSH key from secret config for every machine, every machine's host key pinned.
package main

import (
	"fmt"

	"example.com/pulumi-registry-mirrors/sdk/go/registrymirrors"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/config"
)

// Machine is one entry of the `machines` config.
type Machine struct {
	Name    string `json:"name"`
	Host    string `json:"host"`
	Port    int    `json:"port"`
	HostKey string `json:"hostKey"` // `ssh-ed25519 AAAA…`: required, an unpinned host key is not checked at all
	Runtime string `json:"runtime"` // auto (default), containerd, cri-o, docker
}

func main() {
	pulumi.Run(func(ctx *pulumi.Context) error {
		cfg := config.New(ctx, "")
		var machines []Machine
		cfg.RequireObject("machines", &machines)
		user := cfg.Get("sshUser")
		if user == "" {
			user = "root"
		}
		privateKey := cfg.RequireSecret("sshPrivateKey")

		nodes := []registrymirrors.MirrorNodeInput{}
		for _, m := range machines {
			if m.HostKey == "" {
				return fmt.Errorf("machine %s has no pinned hostKey: read it on the machine or with ssh-keyscan, compare its fingerprint out of band", m.Name)
			}
			port := m.Port
			if port == 0 {
				port = 22
			}
			runtime := registrymirrors.NodeRuntime(m.Runtime)
			if m.Runtime == "" {
				runtime = registrymirrors.NodeRuntimeAuto
			}
			nodes = append(nodes, registrymirrors.MirrorNodeArgs{
				Name:    m.Name,
				Runtime: &runtime,
				Connection: registrymirrors.ConnectionArgs{
					Host:       pulumi.String(m.Host),
					Port:       pulumi.Int(port),
					User:       pulumi.String(user),
					PrivateKey: privateKey,
					HostKey:    pulumi.String(m.HostKey),
				},
			})
		}

		maxParallel := 1
		mirrors, err := registrymirrors.NewRegistryMirrors(ctx, "mirrors", &registrymirrors.RegistryMirrorsArgs{
			Mirrors: registrymirrors.MirrorArray{
				// Docker Hub through the pull-through cache, falling back to Docker Hub when it is down.
				registrymirrors.MirrorArgs{
					Upstream:  pulumi.String("docker.io"),
					Endpoints: registrymirrors.MirrorEndpointArray{registrymirrors.MirrorEndpointArgs{Url: pulumi.String(cfg.Require("dockerHubMirror"))}},
				},
				// quay.io only through the private mirror: with fallback false, the machines never contact quay.io.
				registrymirrors.MirrorArgs{
					Upstream: pulumi.String("quay.io"),
					Endpoints: registrymirrors.MirrorEndpointArray{registrymirrors.MirrorEndpointArgs{
						Url:    pulumi.String(cfg.Require("privateMirror")),
						CaCert: pulumi.String(cfg.Require("privateMirrorCa")),
						Auth: registrymirrors.BasicAuthArgs{
							Username: pulumi.String(cfg.Require("privateMirrorUser")),
							Password: cfg.RequireSecret("privateMirrorPassword"),
						},
					}},
					Fallback: pulumi.Bool(false),
				},
			},
			Nodes: nodes,
			// Restart one machine's runtime at a time (only a config.toml change restarts containerd, normally once).
			Rollout: &registrymirrors.RolloutArgs{MaxParallelRestarts: &maxParallel},
		})
		if err != nil {
			return err
		}
		// Per machine: runtime and version seen, files written, whether the runtime was restarted or reloaded, verification.
		ctx.Export("reports", mirrors.Reports)
		return nil
	})
}
