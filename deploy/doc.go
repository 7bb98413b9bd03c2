// Package deploy holds blobvalet's deployment files (Kubernetes manifests,
// systemd unit) and the tests that hold them to the binary: the manifests
// decode strictly into the Kubernetes API types, and their ports, probe
// paths, configuration and secret names match what blobvalet reads. It is a
// module of its own so that the Kubernetes libraries stay out of
// blobvalet's.
package deploy
