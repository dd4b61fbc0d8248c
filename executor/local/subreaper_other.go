//go:build !linux

package local

// setSubreaper does nothing: subreapers are a Linux feature. Orphans of the
// job go to init, which reaps them.
func setSubreaper() {}
