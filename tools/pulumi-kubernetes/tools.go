//go:build tools

// Package tools pins the Kubernetes resource provider that the pulumi CLI loads.
package tools

import _ "github.com/pulumi/pulumi-kubernetes/provider/v4/cmd/pulumi-resource-kubernetes"
