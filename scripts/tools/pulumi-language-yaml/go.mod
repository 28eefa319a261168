// Wrapper module: builds the YAML language host (github.com/pulumi/pulumi-yaml cmd/pulumi-language-yaml) at
// v1.25.0 from the Go module proxy, against pulumi pkg/sdk v3.215.0: its own pins (sdk v3.206) make it pass
// `-root=` to the Node.js host, which v3.248 rejects; v3.246+ do not compile with it (API changes).
module registry-mirrors/tools/pulumi-language-yaml

go 1.25.11

replace github.com/atotto/clipboard => github.com/tgummerer/clipboard v0.0.0-20241001131231-d02d263e614e

require (
	github.com/blang/semver v3.5.1+incompatible // indirect
	github.com/pulumi/pulumi-yaml v1.25.0 // indirect
	github.com/pulumi/pulumi/pkg/v3 v3.215.0 // indirect
	github.com/pulumi/pulumi/sdk/v3 v3.215.0 // indirect
)
