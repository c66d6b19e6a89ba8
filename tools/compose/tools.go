//go:build tools

// Package tools pins Docker Compose v2 for the tests of docker/compose.yaml (scripts/install.sh).
package tools

import _ "github.com/docker/compose/v2/cmd"
