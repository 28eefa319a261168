// The lab cluster's pause image (test/lab/cluster.ts): a static binary with no dependencies.
module registry-mirrors/lab/pause

go 1.25.0
