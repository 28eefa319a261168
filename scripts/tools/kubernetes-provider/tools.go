//go:build tools

// Package tools keeps the provider's packages (main.go's import) and the schema package of its generate.go
// in the build list of this wrapper module, so `go mod tidy` records every module they need in go.sum.
package tools

import (
	_ "github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/provider"
	_ "github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version"
	_ "github.com/pulumi/pulumi/pkg/v3/codegen/schema"
)
