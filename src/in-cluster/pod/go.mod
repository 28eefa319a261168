// The in-cluster node agent's pod program (src/in-cluster): standard library only, built static (CGO_ENABLED=0).
module registry-mirrors/in-cluster/pod

go 1.25.0
