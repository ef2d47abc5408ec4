//go:build tools

// Package controlplane pins the main packages built by build.sh so that go.mod/go.sum
// record every module they need.
package controlplane

import (
	_ "go.etcd.io/etcd/server/v3"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
)
