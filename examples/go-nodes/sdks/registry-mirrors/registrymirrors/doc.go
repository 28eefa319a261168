// Configures container registry mirrors on Kubernetes nodes (containerd, CRI-O, Docker) over SSH and proves they are used.
package registrymirrors
